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

from bot.core.dialogue import COMMANDS, SYSTEM_COMMANDS, UserTurn
from bot.engine import runtime, slots

UTTER = "utter_kyr"
BUTTON_INTENT = "kyr_button"
COMMAND_INTENT = "kyr_command"
MANIFEST = "flow_policy.json"

logger = logging.getLogger(__name__)


def user_turn(tracker: DialogueStateTracker) -> UserTurn:
    message = tracker.latest_message
    if message is None:
        return UserTurn()
    intent = (message.intent or {}).get("name")
    values = {e.get("entity"): e.get("value") for e in message.entities or []}
    text = message.text or ""
    meta = message.metadata if isinstance(message.metadata, dict) else {}
    hint = str(meta["kyr_hint"]) if meta.get("kyr_hint") else None
    detected = str(meta["kyr_lang"]) if meta.get("kyr_lang") else None
    detected_p = float(meta.get("kyr_lang_p") or 0.0)
    words = int(meta.get("kyr_words") or 0)
    if intent == BUTTON_INTENT:
        return UserTurn(intent=intent, text=text, payload=str(values.get("payload") or ""),
                        hint=hint)
    if intent == COMMAND_INTENT:
        command = str(values.get("command") or "")
        if command in COMMANDS or command in SYSTEM_COMMANDS:  # system ones come from the engine
            return UserTurn(intent=intent, text=text, command=command,
                            argument=values.get("argument"), hint=hint)
        return UserTurn(intent="nlu_fallback", text=text)
    return UserTurn(intent=intent, text=text, detected=detected, detected_p=detected_p,
                    words=words, hint=hint)


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
