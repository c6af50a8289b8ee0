"""Babel NLG: `utter_kyr` + the item in the tracker -> text and buttons in the user's language."""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.shared.core.trackers import DialogueStateTracker

from bot.engine import runtime, slots


class BabelNLG(NaturalLanguageGenerator):
    async def generate(
        self,
        utter_action: Text,
        tracker: DialogueStateTracker,
        output_channel: Text,
        **kwargs: Any,
    ) -> Optional[Dict[Text, Any]]:
        item = tracker.get_slot(slots.ITEM)
        lang = tracker.get_slot(slots.LANG) or "en"
        renderer = runtime.current().renderer
        if not isinstance(item, dict):
            item = {"kind": "notice", "key": "ui.fallback"}
        message = renderer.render(item, lang)
        return {
            "text": message.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
            # Keys Rasa does not know travel as BotUttered metadata to the output channel.
            "kyr": {"lang": message.lang, "flow": message.flow, "step": message.step,
                    "action": message.action},
        }
