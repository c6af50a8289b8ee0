"""Free text in eight languages, measured on phrasing the bot never saw (issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.i18n import normalise
from bot.engine import training
from bot.engine.evaluation import (HELDOUT, INDEPENDENT, SWITCH_P, Scores, decide, expected,
                                   heldout, load_rows, reply_language, score_file,
                                   training_examples)
from bot.engine.intent_model import CalibratedSVMClassifier
from bot.engine.language import fold
from bot.engine.nlu import Parser
from bot.settings import PROJECT_ROOT, Settings


# The languages held to a floor here: all fourteen since the fifth session (2026-12-01),
# when the six Language Access Ordinance languages (about 70 independent phrases each,
# every intent) measured 92.2-95.5% (README, "Understanding free text").
MEASURED = ("en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk", "tl", "ko", "hi", "ur", "gu", "ru")


@pytest.fixture(scope="module")
def parser(settings: Settings, trained: Path) -> Parser:
    return Parser(trained, training.language_model_path(settings), MEASURED)


def test_independent_set_holds_the_measured_floor(settings: Settings, parser: Parser) -> None:
    """Regression floors a little under what `make eval-nlu` measured (README, "Understanding
    free text"); the issue's targets themselves are reported there, not asserted here."""
    seen = {normalise(text) for text, _, _ in training_examples(settings)}
    result = heldout(settings, parser, seen)
    scores: Scores = result["scores"]
    assert result["unseen"] >= 550
    assert scores.accuracy() >= 0.93  # 95.1% measured
    assert {lang: round(scores.accuracy(lang), 3) for lang in MEASURED
            if scores.accuracy(lang) < 0.88} == {}  # 92.2% and more measured
    # 88.9% before the referral topics' flows, 79.7% with them (alert-subscription requests
    # then had no intent); 97.7% of 43 once subscribe_alerts / stop_alerts are trained
    assert scores.rejection >= 0.85  # 92.4% of 66 measured
    rows = [r for r in load_rows(settings.home / INDEPENDENT) if r["lang"] in MEASURED]
    language = reply_language(parser, rows)  # the parser offers the MEASURED languages only
    assert language["right"]["all"] / language["total"]["all"] >= 0.97
    assert language["right"]["ht"] / language["total"]["ht"] >= 0.95
    assert language["right"]["capitals"] / language["total"]["capitals"] >= 0.95


def test_older_heldout_still_understood(settings: Settings, parser: Parser) -> None:
    seen = {normalise(text) for text, _, _ in training_examples(settings)}
    result = score_file(settings, parser, HELDOUT, seen)
    assert result["scores"].accuracy() >= 0.95
    assert result["scores"].rejection >= 0.90


@pytest.mark.parametrize("text,lang", [
    ("AIDEZ MOI ICE A LA PORTE", "fr"), ("ils ont arrete mon mari", "fr"),
    ("SOCORRO LA MIGRA ESTA AQUI", "es"), ("POMOCY ICE POD DOMEM", "pl"),
    ("yo arete frè m maten an", "ht"), ("ICE NAN PÒT MWEN", "ht"),
    ("ЗАБРАЛИ МОГО ЧОЛОВІКА СЬОГОДНІ", "uk"), ("THEY TOOK MY HUSBAND", "en"),
])
def test_short_capital_and_unaccented_messages_switch(parser: Parser, text: str, lang: str) -> None:
    detected, confidence = parser.detect(text)
    assert (detected, confidence >= SWITCH_P) == (lang, True)


def test_folding_keeps_non_latin_marks() -> None:
    assert fold("ÉTÉ ARRÊTÉ, Pomóżcie") == "ete arrete, pomozcie"
    assert fold("Zabrali MĘŻA łódź") == "zabrali meza lodz"
    assert fold("ЇЖАК Й") == "їжак й"  # Cyrillic letters keep their marks
    assert fold("मदद करो") == "मदद करो" and fold("도와주세요") == "도와주세요"


def test_intents_without_a_flow_train_as_out_of_scope() -> None:
    blocks = [{"intent": "greet", "examples": "- hi\n"},
              {"intent": "out_of_scope", "examples": "- weather\n"},
              {"intent": "scams", "examples": "- they want money\n"}]
    kept, early = training.without_flow(blocks, {"greet", "out_of_scope"})
    assert early == {"scams"}
    assert [b["intent"] for b in kept] == ["greet", "out_of_scope"]
    assert "they want money" in kept[1]["examples"] and "weather" in kept[1]["examples"]
    assert blocks[1]["examples"] == "- weather\n"  # the caller's data is not changed


def test_unknown_labels_are_expected_to_fall_back(tmp_path: Path) -> None:
    assert expected("scams", {"greet", "scams"}) == "scams"
    assert expected("scams", {"greet"}) == "nlu_fallback"
    assert expected("out_of_scope", {"out_of_scope"}) == "nlu_fallback"
    data = tmp_path / "set.jsonl"
    data.write_text('# draft\n\n{"text": "hola", "lang": "es", "intent": "greet"}\n')
    assert load_rows(data) == [{"text": "hola", "lang": "es", "intent": "greet"}]


def test_calibrated_probabilities_sum_to_one() -> None:
    import numpy as np
    import scipy.sparse

    model = CalibratedSVMClassifier({}, None, None)  # type: ignore[arg-type]
    model.classes = ["a", "b", "c"]
    model.coef = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    model.intercept = np.zeros(3, dtype=np.float32)
    model.a = np.full(3, -2.0, dtype=np.float32)
    model.b = np.zeros(3, dtype=np.float32)
    p = model.probabilities(scipy.sparse.csr_matrix([[3.0, 0.0], [0.0, 0.0]]))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert int(np.argmax(p[0])) == 0 and np.allclose(p[1][0], p[1][1])


def test_the_fallback_rule_on_a_ranking() -> None:
    ranking = [{"name": "ice_at_door", "confidence": 0.42}, {"name": "greet", "confidence": 0.3}]
    assert decide(ranking, 0.3) == "ice_at_door"
    assert decide(ranking, 0.5) == "nlu_fallback"
    assert decide(ranking, 0.3, ambiguity=0.2) == "nlu_fallback"  # too close to call
    assert decide([{"name": "out_of_scope", "confidence": 0.9}], 0.3) == "nlu_fallback"
    s = Scores()
    s.add("es", "ice_at_door", "ice_at_door")
    s.add("es", "greet", "ice_at_door")
    s.add("es", "nlu_fallback", "nlu_fallback")
    assert s.accuracy("es") == 0.5 and s.rejection == 1.0


def test_kyr_parse_jsonl(trained) -> None:  # type: ignore[no-untyped-def]
    lines = [{"text": "la migra esta en mi puerta"}, {"text": "ICE在我家门口", "lang": "zh_Hans"},
             "not json", {"text": "what's the weather like tomorrow"},
             {"text": "що робити якщо затримали чоловіка"}, {"nope": 1}]
    stdin = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
                      for line in lines) + "\n"
    done = subprocess.run([sys.executable, "-m", "bot", "parse", "--jsonl"], input=stdin.encode(),
                          cwd=PROJECT_ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(out) == len(lines)  # one line out per line in, same order
    assert (out[0]["intent"], out[0]["lang"]) == ("ice_at_door", "es")
    assert (out[1]["intent"], out[1]["lang"]) == ("ice_at_door", "zh_Hans")
    assert out[2]["intent"] == "nlu_fallback" and "error" in out[2]
    assert out[3]["intent"] == "nlu_fallback" and out[3]["lang"] == "en"
    assert (out[4]["intent"], out[4]["lang"]) == ("arrest_detention", "uk")
    assert "error" in out[5]
    assert all(0.0 <= line["confidence"] <= 1.0 for line in out)


async def test_spaced_chinese_door_phrase(parser: Parser) -> None:
    # a known miss until Rasa's emoji filter stopped dropping Chinese beside "ICE"
    assert (await parser.parse("ICE 在我家门口"))["intent"] == "ice_at_door"


async def test_the_classifiers_fast_path_ranks_as_the_stacked_features_do(
        settings: Settings, parser: Parser, monkeypatch: pytest.MonkeyPatch) -> None:
    """CalibratedSVMClassifier.decision reads the sentence features where they are; the
    stacked matrix of `_features` (Rasa's combination) must give the same ranking."""
    rows = load_rows(settings.home / HELDOUT)[::8]
    fast = [(await parser.parse(r["text"]))["ranking"] for r in rows]
    monkeypatch.setattr(CalibratedSVMClassifier, "decision", lambda self, message: None)
    slow = [(await parser.parse(r["text"]))["ranking"] for r in rows]
    assert len(rows) >= 50 and all(fast)
    for a, b in zip(fast, slow):
        assert [x["name"] for x in a] == [x["name"] for x in b]
        assert [x["confidence"] for x in a] == pytest.approx([x["confidence"] for x in b], abs=1e-9)


def test_sentence_featurizer_gives_rasas_sentence_vector_and_no_sequence(tmp_path: Path) -> None:
    """SentenceCountsFeaturizer: the same sentence vector as Rasa's CountVectorsFeaturizer
    trained on the same data, and no per-token matrices (half of the featurizer's time, and
    nothing reads them)."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.engine.intent_model import FoldingTokenizer, SentenceCountsFeaturizer

    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    tokenizer = FoldingTokenizer(FoldingTokenizer.get_default_config())
    texts = ["they are at my door", "ICE está en mi puerta", "mon mari a été arrêté"]

    def featurized(cls: type, name: str, text: str) -> list[tuple[str, list[float]]]:
        config = {**cls.get_default_config(), "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4}
        featurizer = cls.create(config, storage, Resource(name), context)
        data = TrainingData([Message.build(text=t, intent="x") for t in texts])
        tokenizer.process_training_data(data)
        featurizer.train(data)
        message = Message({"text": text})
        tokenizer.process([message])
        featurizer.process([message])
        return [(f.type, f.features.toarray().ravel().tolist()) for f in message.features]

    for text in ("ICE at my DOOR", "arrete", "nada que ver"):
        ours = featurized(SentenceCountsFeaturizer, "ours", text)
        stock = featurized(CountVectorsFeaturizer, "stock", text)
        assert [t for t, _ in ours] == [FEATURE_TYPE_SENTENCE]
        assert FEATURE_TYPE_SEQUENCE in [t for t, _ in stock]
        assert ours == [(t, v) for t, v in stock if t == FEATURE_TYPE_SENTENCE]


def test_hangul_and_chinese_beside_latin_words_stay_tokens() -> None:
    from rasa.shared.nlu.training_data.message import Message

    from bot.engine.intent_model import FoldingTokenizer

    tokenizer = FoldingTokenizer(FoldingTokenizer.get_default_config())

    def words(text: str) -> list[str]:
        return [t.text for t in tokenizer.tokenize(Message({"text": text}), "text")]

    assert words("ICE 봤어요") == ["ice", "봤어요"]
    assert words("ICE 在 我家门口") == ["ice", "在", "我家门口"]
    assert words("DACA 갱신 2025") == ["daca", "갱신", "2025"]
    assert words("hola 😀 ICE") == ["hola", "ice"]  # emoji are still dropped


def test_a_language_typed_in_two_scripts_has_a_row_per_script(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from bot.engine import language

    monkeypatch.setattr(language, "SCRIPT_ROW_MIN", 2)
    examples = [("मदद करो", "hi"), ("मुझे वकील चाहिए", "hi"), ("madad karo", "hi"),
                ("mujhe vakil chahiye", "hi"), ("tulong po", "tl"), ("kailangan ko ng abogado", "tl"),
                ("help me", "en"), ("i need a lawyer", "en"), ("ऐसे", "en")]  # one stray: no row
    language.train(examples, tmp_path / "language.npz")
    with np.load(tmp_path / "language.npz") as data:
        assert [str(code) for code in data["languages"]] == ["en", "hi", "hi", "tl"]
    detector = language.LanguageDetector(tmp_path / "language.npz", ("en", "hi", "tl"))
    assert detector.languages == ("en", "hi", "tl")
    assert np.isclose(detector._ours("mujhe madad karo").sum(), 1.0)
    assert detector.detect("mujhe madad karo")[0] == "hi"
    assert detector.detect("मुझे मदद करो")[0] == "hi"
    assert language.LanguageDetector(tmp_path / "language.npz", ("en", "tl")).languages == ("en", "tl")


@pytest.mark.parametrize("options", [
    {"analyzer": "char_wb", "ngram_range": (1, 4)},
    {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b"},
    {"analyzer": "char_wb", "ngram_range": (2, 3), "binary": True, "strip_accents": "unicode"},
], ids=["chars", "words", "binary"])
def test_counting_one_message_gives_scikit_learns_transform(settings: Settings,
                                                            options: dict) -> None:  # type: ignore[type-arg]
    """intent_model.counts_of: the matrix of CountVectorizer.transform, sorted, as COO,
    on every phrase of both evaluation files (fitted on half of them, so unseen features
    occur too), the empty message and one with nothing in the vocabulary included."""
    from sklearn.feature_extraction.text import CountVectorizer

    from bot.engine.intent_model import counts_of

    texts = [r["text"] for path in (HELDOUT, INDEPENDENT) for r in load_rows(settings.home / path)]
    vectorizer = CountVectorizer(**options).fit(texts[::2])
    for text in texts + ["", "ʘʘʘ"]:
        ours = counts_of(vectorizer, text)
        theirs = vectorizer.transform([text])
        theirs.sort_indices()
        theirs = theirs.tocoo()
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert ours.col.tolist() == theirs.col.tolist() and ours.row.tolist() == theirs.row.tolist()
        assert ours.data.tolist() == theirs.data.tolist()
