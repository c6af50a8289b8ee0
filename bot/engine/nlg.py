"""Babel NLG: `utter_kyr` + this turn's items -> messages in the conversation's language."""

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
        items = tracker.get_slot(slots.ITEMS)
        state = slots.state_from(tracker.get_slot(slots.STATE))
        lang = state.lang
        renderer = runtime.current().renderer
        if not isinstance(items, list) or not items:  # not expected; answer, never go silent
            items = [{"kind": "fallback", "flow": state.flow or "main_menu",
                      "step": state.step or "menu"}]
        messages = [renderer.render(item, lang) for item in items]
        last = messages[-1]
        return {
            # Rasa records one BotUttered per turn; its text is the last message's.
            "text": last.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in last.buttons],
            # Keys Rasa does not know travel as BotUttered metadata to the output channel,
            # which turns them back into one OutboundMessage each.
            "kyr": [{"text": m.text, "buttons": [[b.title, b.payload] for b in m.buttons],
                     "lang": m.lang, "flow": m.flow, "step": m.step, "action": m.action,
                     "topic": m.topic, "urgent": m.urgent}
                    for m in messages],
        }
