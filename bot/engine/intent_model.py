"""The intent model's own Rasa components: folded tokens and a calibrated linear SVM.

Chosen by measurement on tests/data/nlu_independent.jsonl and in cross-validation (README,
"Understanding free text"): residents type in capitals and without accents, so tokens are
case- and accent-folded before the count features; a linear SVM with sigmoid calibration
fitted on held-out folds trains in a fraction of the logistic regression's time on the
same features and gives confidences the fallback threshold can rely on.

The classifier is saved as plain arrays (.npz, loaded without pickle) rather than through
skops, which refuses the calibration classes as untrusted.
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, List, Text

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.engine.language import fold

MODEL_FILE = "calibrated_svm.npz"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class FoldingTokenizer(WhitespaceTokenizer):
    """Rasa's whitespace tokens, case- and accent-folded ("ÉTÉ ARRÊTÉ" == "ete arrete").

    Only the tokens the featurizers read are folded; the message text is untouched.

    Rasa drops a token as an emoji when it is made only of characters in its emoji
    ranges, and one of those ranges (U+24C2 to U+1F251) holds all of Hangul and Chinese: in
    "ICE 봤어요" or "ICE来了" only "ice" was left whenever a Latin word or a number came
    along (a message of Hangul or Chinese alone survived, as Rasa keeps the whole text when
    nothing is left). A token with a letter or digit in it is never an emoji here.
    """

    def remove_emoji(self, text: Text) -> Text:
        if any(c.isalnum() for c in text):
            return text
        return super().remove_emoji(text)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        for token in tokens:
            token.text = fold(token.text)
            token.lemma = fold(token.lemma)
        return tokens


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class SentenceCountsFeaturizer(CountVectorsFeaturizer):
    """Rasa's CountVectorsFeaturizer, the sentence vector only.

    The classifier reads one vector of the whole message (the sentence features); Rasa's
    featurizer also builds a matrix of one row per token (the sequence features) that
    nothing in this pipeline reads, about half of the featurizer's time a message. The
    sentence vector is Rasa's own, the same vectorizer on the same joined tokens, so the
    model's predictions do not change (tests/engine/test_nlu.py)."""

    def _create_features(self, attribute: Text, all_tokens: List[List[Text]]
                         ) -> tuple[list[Any], list[Any]]:
        vectorizer = self.vectorizers.get(attribute)
        if not vectorizer:
            return [None], [None]
        sentence: list[Any] = []
        for tokens in all_tokens:
            if not tokens or attribute not in DENSE_FEATURIZABLE_ATTRIBUTES:
                sentence.append(None)
                continue
            sentence.append(counts_of(vectorizer, " ".join(tokens)))
        return [None] * len(all_tokens), sentence


_analyzers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # vectorizer -> analyzer


def counts_of(vectorizer: Any, document: str) -> scipy.sparse.coo_matrix:
    """`vectorizer.transform([document])`, sorted, as COO: the same matrix (values, columns,
    dtype, shape), counted directly. scikit-learn's transform builds the analyzer again,
    validates and converts for every call, several times the counting for one short message
    (tests/engine/test_nlu.py holds the two equal on every evaluation phrase)."""
    analyzer = _analyzers.get(vectorizer)
    if analyzer is None:
        analyzer = _analyzers[vectorizer] = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    found: dict[int, int] = {}
    for feature in analyzer(document):
        column = vocabulary.get(feature)
        if column is not None:
            found[column] = found.get(column, 0) + 1
    columns = np.array(sorted(found), dtype=np.int32)
    values = np.array([1 if vectorizer.binary else found[c] for c in columns.tolist()],
                      dtype=vectorizer.dtype)
    return scipy.sparse.coo_matrix((values, (np.zeros(len(columns), dtype=np.int32), columns)),
                                   shape=(1, len(vocabulary)), dtype=vectorizer.dtype)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class CalibratedSVMClassifier(GraphComponent, IntentClassifier):
    """One-vs-rest linear SVM on the sparse sentence features, sigmoid-calibrated.

    Calibration (Platt scaling) is fitted on `folds` cross-validated decision values and
    the SVM itself on all the data (scikit-learn's CalibratedClassifierCV, ensemble=False),
    so serving is one sparse product and a sigmoid per intent.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 0.5, "folds": 3, "random_state": 42, "ranking_length": 10}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.classes: list[str] = []
        self.coef = np.zeros((0, 0), dtype=np.float32)
        self.intercept = np.zeros(0, dtype=np.float32)
        self.a = np.zeros(0, dtype=np.float32)
        self.b = np.zeros(0, dtype=np.float32)
        self._weights: np.ndarray | None = None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CalibratedSVMClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def _features(messages: List[Message]) -> scipy.sparse.csr_matrix:
        rows = []
        for message in messages:
            sparse = message.get_sparse_features(attribute=TEXT)[1]
            dense = message.get_dense_features(attribute=TEXT)[1]
            rows.append(scipy.sparse.hstack([
                scipy.sparse.csr_matrix(sparse.features if sparse else []),
                scipy.sparse.csr_matrix(dense.features if dense else [])]))
        return scipy.sparse.vstack(rows).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        examples = [e for e in training_data.intent_examples if e.get(INTENT)]
        if not examples:
            return self._resource
        X = self._features(examples)
        y = np.array([str(e.get(INTENT)) for e in examples])
        folds = StratifiedKFold(int(self.config["folds"]), shuffle=True,
                                random_state=int(self.config["random_state"]))
        model = CalibratedClassifierCV(
            LinearSVC(C=float(self.config["C"]), class_weight="balanced",
                      random_state=int(self.config["random_state"])),
            cv=folds, method="sigmoid", ensemble=False)
        model.fit(X, y)
        calibrated = model.calibrated_classifiers_[0]
        svm = getattr(calibrated, "estimator", None) or calibrated.base_estimator  # sklearn < 1.2
        self.classes = [str(c) for c in model.classes_]
        self.coef = svm.coef_.astype(np.float32)
        self.intercept = svm.intercept_.astype(np.float32)
        self.a = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float32)
        self.b = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float32)
        self.persist()
        return self._resource

    def weights(self) -> np.ndarray:
        if self._weights is None:  # float64, features x intents: no conversion per message
            self._weights = np.ascontiguousarray(self.coef.T, dtype=np.float64)
        return self._weights

    def probabilities(self, X: scipy.sparse.csr_matrix) -> np.ndarray:
        return self.calibrated(np.asarray(X @ self.weights()) + self.intercept)

    def decision(self, message: Message) -> np.ndarray | None:
        """The SVM's decision values for one message, read from its features where they
        are: the columns `_features` would lay out (sparse sentence features in the order
        the featurizers added them, then dense ones), without building that matrix (Rasa's
        combination deep-copies and stacks them, more time than the product itself).
        None when the widths do not add up to the model's (then `_features` decides)."""
        weights = self.weights()
        total = np.array(self.intercept, dtype=np.float64)
        offset = 0
        for sparse in (True, False):
            for f in message.features:
                if f.attribute != TEXT or f.type != FEATURE_TYPE_SENTENCE or f.is_sparse() != sparse:
                    continue
                matrix = f.features
                width = int(matrix.shape[-1])
                if offset + width > weights.shape[0]:
                    return None
                if sparse and isinstance(matrix, scipy.sparse.coo_matrix):
                    total += matrix.data @ weights[offset + matrix.col]
                else:
                    total += np.asarray(matrix @ weights[offset:offset + width]).reshape(-1)
                offset += width
        return total if offset == weights.shape[0] else None

    def calibrated(self, decision: np.ndarray) -> np.ndarray:
        """Decision values (messages x intents) -> calibrated probabilities that sum to 1."""
        if len(self.classes) == 2:  # a binary SVM has one decision value
            decision = decision[:, :1]
        p = 1.0 / (1.0 + np.exp(self.a * decision + self.b))
        if len(self.classes) == 2:
            p = np.hstack([1.0 - p, p])
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / len(self.classes))

    def process(self, messages: List[Message]) -> List[Message]:
        if not self.classes or not messages:
            return messages
        decisions = [self.decision(m) for m in messages]
        if all(d is not None for d in decisions):
            probabilities = self.calibrated(np.vstack(decisions))  # type: ignore[arg-type]
        else:
            probabilities = self.probabilities(self._features(messages))
        for message, row in zip(messages, probabilities):
            ranking: list[dict[str, Any]] = sorted(
                ({"name": name, "confidence": float(p)} for name, p in zip(self.classes, row)),
                key=lambda r: -float(r["confidence"]))
            message.set("intent", ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: int(self.config["ranking_length"])],
                        add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as folder:
            np.savez(folder / MODEL_FILE, classes=np.array(self.classes), coef=self.coef,
                     intercept=self.intercept, a=self.a, b=self.b)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "CalibratedSVMClassifier":
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as folder:
                with np.load(folder / MODEL_FILE, allow_pickle=False) as data:
                    component.classes = [str(c) for c in data["classes"]]
                    component.coef = data["coef"]
                    component.intercept = data["intercept"]
                    component.a, component.b = data["a"], data["b"]
        except (ValueError, FileNotFoundError):
            pass  # untrained (no intents): predicts nothing, the fallback answers
        return component
