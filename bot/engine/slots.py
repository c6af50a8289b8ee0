"""The two tracker slots that hold a conversation's place in the flows.

One slot for the state and one for this turn's answer keep each turn to six events
(user, two slot sets, the utterance, the bot message, listen): Rasa replays every event
on each tracker copy, so fewer events is directly less time per message.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from bot.core.dialogue import State

STATE = "kyr_state"  # where the conversation is: flow, step, language, notices shown,
# and what the flow collected so far (areas, report answers): one slot, not one per field
ITEMS = "kyr_items"  # the answer items the NLG renders for this turn

ALL = (STATE, ITEMS)


def state_from(value: Optional[Dict[str, Any]]) -> State:
    value = value if isinstance(value, dict) else {}
    back = value.get("return_to")
    return State(
        flow=value.get("flow"),
        step=value.get("step"),
        lang=value.get("lang") or "en",
        disclaimer_shown=bool(value.get("disclaimer")),
        started=bool(value.get("started")),
        return_to=(back[0], back[1]) if isinstance(back, list) and len(back) == 2 else None,
        trail=tuple(str(s) for s in value.get("trail") or ()),
        asking=str(value["asking"]) if value.get("asking") else None,
        areas=tuple(str(a) for a in value.get("areas") or ()),
        answers=tuple((str(p[0]), str(p[1])) for p in value.get("answers") or ()
                      if isinstance(p, list) and len(p) == 2),
    )


def state_value(state: State) -> Dict[str, Any]:
    return {
        "flow": state.flow,
        "step": state.step,
        "lang": state.lang,
        "disclaimer": state.disclaimer_shown,
        "started": state.started,
        "return_to": list(state.return_to) if state.return_to else None,
        "trail": list(state.trail),
        "asking": state.asking,
        # Collected by the flow until it files them: area codes and button answers, never
        # typed text (an address typed at "which area?" is not kept: it names no area), and
        # typed cross streets only as the token the application sealed (bot.app.held).
        "areas": list(state.areas),
        "answers": [list(p) for p in state.answers],
    }
