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


async def _conversation(services, user: str, seed: int) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    """Ten turns of one conversation, buttons picked by `seed`: what the resident saw."""
    from bot.testing import TestBot

    rng = random.Random(seed)
    bot = TestBot(services.conversation, user)
    seen = []
    reply = await bot.say("la migra esta en mi puerta")
    for _ in range(10):
        # (the place in the hotline's line is left out: the first conversation's ticket
        # is still open when the second asks, so the second is one further back)
        seen.append([(None if (r.step or "").startswith("handoff") else r.text,
                      [b.payload for b in r.buttons], r.flow, r.step) for r in reply])
        buttons = [b.payload for r in reply for b in r.buttons]
        reply = await (bot.press_payload(rng.choice(buttons)) if buttons else bot.say("menu"))
    return seen


async def test_utter_kyr_is_followed_by_listen_without_a_second_graph_run(  # type: ignore[no-untyped-def]
        services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 7: one prediction graph run a turn, and the same conversation as with Rasa's
    own response action (which made the graph predict the listen too)."""
    from rasa.core.actions.action import ActionBotResponse

    assert ActionBotResponse.run is speedups.bot_response_run
    processor = services.engine.agent.processor
    runner, core = processor.graph_runner, processor.model_metadata.core_target
    runs: list[int] = []  # runs of the prediction graph (not of NLU, which the text needs)
    run = runner.run

    def counted_run(inputs=None, targets=None):  # type: ignore[no-untyped-def]
        if targets == [core]:
            runs.append(1)
        return run(inputs, targets)

    monkeypatch.setattr(runner, "run", counted_run)
    turns: list[int] = []
    handle = services.engine.agent.processor.handle_message

    async def counted(message):  # type: ignore[no-untyped-def]
        turns.append(1)
        return await handle(message)

    monkeypatch.setattr(services.engine.agent.processor, "handle_message", counted)
    ours = await _conversation(services, "followup-ours", 5)
    assert turns and len(runs) == len(turns)  # the listen after utter_kyr took no graph run
    runs.clear()
    turns.clear()
    monkeypatch.setattr(ActionBotResponse, "run", speedups._rasa_bot_response_run)
    rasas = await _conversation(services, "followup-rasa", 5)
    assert len(runs) == 2 * len(turns)  # Rasa's way: the graph predicted the listen as well
    assert ours == rasas


async def test_turn_locks_serialise_a_conversation_and_no_other() -> None:
    import asyncio

    locks = speedups.TurnLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def turn(conversation: str, name: str, wait: bool) -> None:
        async with locks.lock(conversation):
            order.append(f"{name} in")
            if wait:
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(turn("a", "a1", True))
    second = asyncio.create_task(turn("a", "a2", False))
    other = asyncio.create_task(turn("b", "b1", False))
    await asyncio.sleep(0.01)
    assert order == ["a1 in", "b1 in", "b1 out"]  # b did not wait for a; a2 waits for a1
    assert locks.in_use() == 1
    release.set()
    await asyncio.gather(first, second, other)
    assert order[3:] == ["a1 out", "a2 in", "a2 out"]
    assert locks.in_use() == 0  # nothing kept for conversations not in a turn
    with pytest.raises(RuntimeError):
        async with locks.lock("c"):
            raise RuntimeError("a turn failed")
    assert locks.in_use() == 0
