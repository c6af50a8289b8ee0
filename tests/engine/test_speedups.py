"""The tracker copy of bot.engine.speedups is Rasa's copy (a replay of every event), faster."""

from __future__ import annotations

import random

import pytest
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.engine import speedups


def state(tracker: DialogueStateTracker) -> dict:  # type: ignore[type-arg]
    return {
        "current": tracker.current_state(EventVerbosity.ALL),
        "slots": {name: (slot.value, slot.has_been_set) for name, slot in tracker.slots.items()},
        "events": list(tracker.events),
        "loop": tracker.active_loop,
        "paused": tracker.is_paused(),
        "followup": tracker.followup_action,
        "latest": (tracker.latest_message, tracker.latest_bot_utterance, tracker.latest_action),
        "ids": (tracker.sender_id, tracker.model_id, tracker.assistant_id, tracker.is_rule_tracker),
    }


async def test_the_copy_equals_rasas_replay_on_real_conversations(services) -> None:  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage
    from bot.testing import CHANNEL, TestBot

    assert DialogueStateTracker.copy is speedups.copy_tracker  # installed by the engine
    store = services.engine.store
    rng = random.Random(11)
    compared = 0
    for n in range(6):
        bot = TestBot(services.conversation, f"copy-{n}")
        reply = await bot.say(["hi", "la migra esta en mi puerta", "necesito un abogado"][n % 3])
        for _ in range(8):
            buttons = [b.payload for r in reply for b in r.buttons]
            reply = await (bot.press_payload(rng.choice(buttons)) if buttons else bot.say("menu"))
            tracker = await store.retrieve(services.conversation.resident(InboundMessage(
                CHANNEL, bot.user, text="x")))
            assert tracker is not None
            fast, replayed = speedups.copy_tracker(tracker), speedups._replay_copy(tracker)
            assert state(fast) == state(replayed)
            # Independent of the original: what an action does to the copy stays there.
            for slot in fast.slots.values():
                slot.value = "changed"
            fast.events.append(tracker.events[-1])
            assert state(tracker)["slots"] == state(replayed)["slots"]
            assert len(tracker.events) == len(replayed.events)
            compared += 1
    assert compared == 48


def test_a_capped_history_is_still_replayed() -> None:
    tracker = DialogueStateTracker("capped", [], max_event_history=3)
    with pytest.MonkeyPatch.context() as patch:
        calls: list[DialogueStateTracker] = []
        patch.setattr(speedups, "_replay_copy", lambda t: calls.append(t) or t)
        assert speedups.copy_tracker(tracker) is tracker and calls == [tracker]


def test_domain_is_empty_as_rasa_says(services) -> None:  # type: ignore[no-untyped-def]
    from rasa.shared.core.domain import Domain

    assert Domain.is_empty is speedups.domain_is_empty
    assert Domain.empty().is_empty()
    assert not services.engine.agent.domain.is_empty()
    assert not Domain.from_dict({"intents": ["greet"]}).is_empty()


def test_default_actions_are_rasas_built_once(services) -> None:  # type: ignore[no-untyped-def]
    import rasa.core.actions.action as action

    assert action.default_actions is speedups.default_actions
    ours, rasas = speedups.default_actions(), speedups._rasa_default_actions(None)
    assert [a.name() for a in ours] == [a.name() for a in rasas]
    assert [type(a) for a in ours] == [type(a) for a in rasas]
    again = speedups.default_actions()
    assert again is not ours and all(a is b for a, b in zip(ours, again))  # the same twelve
    domain = services.engine.agent.domain
    assert action.action_for_name_or_text("action_listen", domain, None) is ours[0]
    endpoint = object()  # with an endpoint, Rasa's own, built anew as before
    assert all(a is not b for a, b in zip(speedups.default_actions(endpoint), ours))
