"""The tracker slots that hold a conversation's place in the flows."""

from __future__ import annotations

from typing import Any

from bot.core.dialogue import State

FLOW = "kyr_flow"
STEP = "kyr_step"
LANG = "kyr_lang"
DISCLAIMER = "kyr_disclaimer"
STARTED = "kyr_started"
RETURN_TO = "kyr_return"
ITEM = "kyr_item"  # the answer item the NLG renders next
QUEUE = "kyr_queue"  # the items still to say this turn

ALL = (FLOW, STEP, LANG, DISCLAIMER, STARTED, RETURN_TO, ITEM, QUEUE)


def state_from(slots: dict[str, Any]) -> State:
    back = slots.get(RETURN_TO)
    return State(
        flow=slots.get(FLOW),
        step=slots.get(STEP),
        lang=slots.get(LANG) or "en",
        disclaimer_shown=bool(slots.get(DISCLAIMER)),
        started=bool(slots.get(STARTED)),
        return_to=(back[0], back[1]) if isinstance(back, list) and len(back) == 2 else None,
    )


def changes(old: State, new: State) -> dict[str, Any]:
    """Slot values that differ between two states (so the tracker only records changes)."""
    pairs = {
        FLOW: (old.flow, new.flow),
        STEP: (old.step, new.step),
        LANG: (old.lang, new.lang),
        DISCLAIMER: (old.disclaimer_shown, new.disclaimer_shown),
        STARTED: (old.started, new.started),
        RETURN_TO: (list(old.return_to) if old.return_to else None,
                    list(new.return_to) if new.return_to else None),
    }
    return {slot: after for slot, (before, after) in pairs.items() if before != after}
