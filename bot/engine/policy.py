"""FlowPolicy: a Rasa policy that runs the flows in flows/*.yml.

On a user turn it asks the core Dialogue what to say, stores the answer items in a slot
and predicts `utter_kyr` (the NLG renders every item as one message), then `action_listen`.
It always predicts something, so Rasa never falls through to a default action.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core.dialogue import UserTurn
from bot.engine import codec, runtime, slots
from bot.engine.codec import BUTTON_INTENT, COMMAND_INTENT

__all__ = ["BUTTON_INTENT", "COMMAND_INTENT", "FlowPolicy", "UTTER", "user_turn"]

UTTER = "utter_kyr"
MANIFEST = "flow_policy.json"

logger = logging.getLogger(__name__)


def user_turn(tracker: DialogueStateTracker) -> UserTurn:
    message = tracker.latest_message
    if message is None:
        return UserTurn()
    return codec.decode((message.intent or {}).get("name"), message.entities or [],
                        message.text or "", message.metadata)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class FlowPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 6, "flow_ids": []}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        trained_flow_ids: Optional[List[Text]] = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context)
        self.trained_flow_ids = trained_flow_ids or []

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        with self._model_storage.write_to(self._resource) as directory:
            (directory / MANIFEST).write_text(json.dumps({"flow_ids": self.config["flow_ids"]}))
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "FlowPolicy":
        flow_ids: List[Text] = []
        try:
            with model_storage.read_from(resource) as directory:
                flow_ids = json.loads((directory / MANIFEST).read_text())["flow_ids"]
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("flow policy manifest missing from the model; retrain with 'kyr train'")
        return cls(config, model_storage, resource, execution_context, flow_ids)

    def _predict(self, domain: Domain, action: Text, events: List[Event]) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, optional_events=events)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        if tracker.latest_action_name != ACTION_LISTEN_NAME or tracker.latest_message is None:
            return self._predict(domain, ACTION_LISTEN_NAME, [])  # we answered: wait
        message = tracker.latest_message
        if message.intent.get("name") is None and not message.text:
            return self._predict(domain, ACTION_LISTEN_NAME, [])  # no user turn yet
        dialogue = runtime.current().dialogue
        before = slots.state_from(tracker.get_slot(slots.STATE))
        after, items = dialogue.respond(before, user_turn(tracker))
        events: List[Event] = [SlotSet(slots.ITEMS, items)]
        if after != before:
            events.insert(0, SlotSet(slots.STATE, slots.state_value(after)))
        return self._predict(domain, UTTER, events)
