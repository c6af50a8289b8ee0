"""One contract, run against the SQLite file and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.storage.db import conversations, make_engine
from bot.storage.tracker_store import KyrTrackerStore

DOMAIN = Domain.from_dict({
    "intents": ["greet"],
    "slots": {"kyr_step": {"type": "any", "influence_conversation": False,
                           "mappings": [{"type": "custom"}]}},
    "responses": {"utter_kyr": [{"text": "x"}]},
})


@pytest.fixture
def store(database_url: str) -> Iterator[KyrTrackerStore]:
    engine = make_engine(database_url)
    yield KyrTrackerStore(DOMAIN, engine)
    engine.dispose()


def tracker(sender: str, *events) -> DialogueStateTracker:  # type: ignore[no-untyped-def]
    t = DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        t.update(event)
    return t


async def test_save_retrieve_update_delete(store: KyrTrackerStore) -> None:
    sender = f"test-{uuid.uuid4().hex}"
    assert await store.retrieve(sender) is None
    await store.save(tracker(sender, ActionExecuted("action_listen"), SlotSet("kyr_step", "one")))
    loaded = await store.retrieve(sender)
    assert loaded is not None and loaded.get_slot("kyr_step") == "one"
    loaded.update(SlotSet("kyr_step", "two"))
    await store.save(loaded)
    again = await store.retrieve(sender)
    assert again is not None and again.get_slot("kyr_step") == "two"
    assert sender in await store.keys()
    await store.delete(sender)
    assert await store.retrieve(sender) is None


async def test_a_preloaded_row_answers_the_first_retrieve_only(
        store: KyrTrackerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The turn's first trip reads the row (read_now); Rasa's retrieve then starts from it
    without a second read, once: after a save (or an erasure) it reads afresh."""
    sender = f"test-{uuid.uuid4().hex}"
    await store.save(tracker(sender, ActionExecuted("action_listen"), SlotSet("kyr_step", "one")))
    with store.engine.connect() as connection:
        stored = store.read_now(connection, sender)
        missing = store.read_now(connection, f"{sender}-none")
    assert stored.raw is not None and missing.raw is None
    reads: list[str] = []
    retrieve_now = store.retrieve_now
    monkeypatch.setattr(store, "retrieve_now", lambda s: reads.append(s) or retrieve_now(s))
    with store.preloaded(stored):
        first = await store.retrieve(sender)
        assert first is not None and first.get_slot("kyr_step") == "one" and reads == []
        first.update(SlotSet("kyr_step", "two"))
        await store.save(first)
        again = await store.retrieve(sender)  # the row saved, not the preloaded one
        assert again is not None and again.get_slot("kyr_step") == "two" and reads == [sender]
    with store.preloaded(missing):
        assert await store.retrieve(f"{sender}-none") is None and reads == [sender]
    with store.engine.connect() as connection:
        stored = store.read_now(connection, sender)
    with store.preloaded(stored):
        await store.delete(sender)
        assert await store.retrieve(sender) is None  # erased within the turn: not preloaded
    assert await store.retrieve(sender) is None  # outside a turn: the database, as before


async def test_resident_words_are_redacted(store: KyrTrackerStore) -> None:
    sender = f"test-{uuid.uuid4().hex}"
    words = "mi esposo Juan fue detenido en la calle 26"
    await store.save(tracker(sender, ActionExecuted("action_listen"),
                             UserUttered(words, {"name": "arrest_detention", "confidence": 0.9}),
                             BotUttered("a reply")))
    with store.engine.connect() as connection:
        raw = connection.execute(sa.select(conversations.c.events)
                                 .where(conversations.c.resident == sender)).scalar()
    assert "Juan" not in raw and "detenido" not in raw
    loaded = await store.retrieve(sender)
    assert loaded is not None
    assert loaded.latest_message.intent["name"] == "arrest_detention"
    await store.delete(sender)


async def test_only_the_current_session_is_kept(store: KyrTrackerStore) -> None:
    sender = f"test-{uuid.uuid4().hex}"
    await store.save(tracker(
        sender, ActionExecuted("action_session_start"), SessionStarted(), BotUttered("old session"),
        ActionExecuted("action_session_start"), SessionStarted(), SlotSet("kyr_step", "carried")))
    loaded = await store.retrieve(sender)
    assert loaded is not None
    assert not any(isinstance(e, BotUttered) for e in loaded.events)
    assert loaded.get_slot("kyr_step") == "carried"
    await store.delete(sender)


async def test_history_is_compacted_to_its_net_effect(store: KyrTrackerStore) -> None:
    """Thirty turns store no more than one: older turns reduce to the latest slot values."""
    sender = f"test-{uuid.uuid4().hex}"
    t = tracker(sender, ActionExecuted("action_session_start"), SessionStarted(),
                ActionExecuted("action_listen"))
    sizes = []
    for turn in range(30):
        t.update(UserUttered(None, {"name": "greet", "confidence": 1.0}))
        t.update(SlotSet("kyr_step", f"step{turn}"))
        t.update(ActionExecuted("utter_kyr"))
        t.update(BotUttered("reply"))
        t.update(ActionExecuted("action_listen"))
        await store.save(t)
        t = await store.retrieve(sender)
        assert t is not None and t.get_slot("kyr_step") == f"step{turn}"
        sizes.append(len(t.events))
    assert sizes[-1] == sizes[2]  # constant after the first turns
    assert t.latest_action_name == "action_listen"
    assert t.latest_message.intent["name"] == "greet"
    await store.delete(sender)


def test_a_turn_is_stored_as_its_net_effect() -> None:
    """Around the latest user turn: the session start, each slot's latest value, the listen
    before the turn and the action it ended on; its bot message, utter_kyr, featurization
    flag and follow-up are not kept. Something else in the turn keeps the turn whole."""
    from rasa.shared.core.events import FollowupAction, Restarted, UserUtteranceReverted

    from bot.storage.tracker_store import compact, current_session

    def events(*turn):  # type: ignore[no-untyped-def]
        t = tracker("c", ActionExecuted("action_session_start"), SessionStarted(),
                    SlotSet("kyr_step", "one"), ActionExecuted("action_listen"),
                    UserUttered(None, {"name": "greet", "confidence": 1.0}), *turn)
        return current_session([e.as_dict() for e in t.events])

    plain = compact(events(SlotSet("kyr_step", "two"), ActionExecuted("utter_kyr"),
                           BotUttered("reply"), FollowupAction("action_listen"),
                           ActionExecuted("action_listen")))
    assert [(e["event"], e.get("name"), e.get("value")) for e in plain] == [
        ("action", "action_session_start", None), ("session_started", None, None),
        ("slot", "kyr_step", "two"), ("action", "action_listen", None), ("user", None, None),
        ("action", "action_listen", None)]
    loaded = DialogueStateTracker.from_dict("c", plain, DOMAIN.slots)
    assert loaded.get_slot("kyr_step") == "two" and loaded.latest_action_name == "action_listen"
    assert loaded.followup_action is None and loaded.latest_message.intent["name"] == "greet"
    for unusual in (Restarted(), UserUtteranceReverted()):
        kept = compact(events(SlotSet("kyr_step", "two"), unusual, ActionExecuted("action_listen")))
        assert [e["event"] for e in kept][-3:] == ["slot", unusual.type_name, "action"]
