"""Babel NLG: `utter_kyr` + this turn's items -> messages in the conversation's language."""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core.dialogue import ItemKind
from bot.engine import codec, runtime, slots


class BabelNLG(NaturalLanguageGenerator):
    async def generate(
        self,
        utter_action: Text,
        tracker: DialogueStateTracker,
        output_channel: Text,
        **kwargs: Any,
    ) -> Optional[Dict[Text, Any]]:
        items = tracker.get_slot(slots.ITEMS)
        state = slots.state_from(tracker.get_slot(slots.STATE))
        lang = state.lang
        renderer = runtime.current().renderer
        if not isinstance(items, list) or not items:  # not expected; answer, never go silent
            items = [{"kind": ItemKind.FALLBACK, "flow": state.flow or "main_menu",
                      "step": state.step or "menu"}]
        messages = [renderer.render(item, lang) for item in items]
        return codec.pack(messages, state.trail)
