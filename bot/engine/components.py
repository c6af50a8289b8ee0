"""Rasa graph components of this project."""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class TunedLogisticRegression(LogisticRegressionClassifier):
    """Rasa's logistic regression with its regularisation strength exposed as `C`.

    Rasa fixes C=1.0, which underfits our ~5,000 multilingual examples over tens of
    thousands of character n-grams: an exact training phrase ("ICE 在我家门口") scored 0.24.
    C=10 was chosen on held-out phrasing (README, "Understanding free text").
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=float(self.config["C"]))
