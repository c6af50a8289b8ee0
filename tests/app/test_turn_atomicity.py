"""A turn's conversation save, its replies and its inbox row's "done" commit together.

A failure injected between the turn and its commit (the outbox write raises) must leave
the conversation where it was, with no replies: the turn runs again from the same state
and its replies are written once. Before the save was held (bot.storage.unit), the
conversation had already advanced when the replies failed to be written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.app.inbox import Envelope, Inbox, Taken
from bot.app.outbox import Draft, Outbox
from bot.app.queue_tables import inbox as inbox_table, outbox as outbox_table
from bot.app.services import Services
from bot.app.turns import EngineTurns
from bot.app.worker import InboxWorker
from bot.core.messages import InboundMessage
from bot.storage.db import make_engine
from bot.storage.tracker_store import KyrTrackerStore

SECRET = b"atomicity-secret"
DOMAIN = Domain.from_dict({
    "intents": ["greet"],
    "slots": {"kyr_step": {"type": "any", "influence_conversation": False,
                           "mappings": [{"type": "custom"}]}},
    "responses": {"utter_kyr": [{"text": "x"}]},
})


@pytest.fixture
def db(database_url: str) -> Iterator[sa.engine.Engine]:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.delete(outbox_table))
        connection.execute(sa.delete(inbox_table))
    yield engine
    engine.dispose()


class FailingOnce(Outbox):
    """The outbox write of the first turn raises: a crash between the turn and its commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = 0

    def write(self, connection: sa.engine.Connection, drafts: Any, inbox_id: int | None = None) -> int:
        if self.failures == 0:
            self.failures += 1
            raise RuntimeError("injected: the process dies before the replies are written")
        return super().write(connection, drafts, inbox_id)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


def outbox_rows(db: sa.engine.Engine) -> int:
    with db.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() or 0)


def inbox_states(db: sa.engine.Engine) -> list[str]:
    with db.connect() as connection:
        return [r.state for r in connection.execute(sa.select(inbox_table.c.state))]


async def test_a_turn_that_fails_before_its_commit_leaves_the_conversation_unchanged(
        db: sa.engine.Engine) -> None:
    store = KyrTrackerStore(DOMAIN, db)
    sender = f"atom-{uuid.uuid4().hex}"
    box, out = Inbox(db, SECRET), FailingOnce(db, SECRET)
    turns: list[int] = []

    async def turn(row: Taken) -> list[Draft]:
        # Each turn reads the conversation and moves it one step on, as Rasa does.
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
        step = int(tracker.get_slot("kyr_step") or 0) + 1
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(SlotSet("kyr_step", str(step)))
        await store.save(tracker)
        turns.append(step)
        return [Draft("test", row.conversation, "a", {"text": f"step {step}"})]

    box.put([Envelope("test", "m-1", sender, "message", {"user": sender})])
    worker = InboxWorker(box, out, turn, concurrency=2)
    running = asyncio.create_task(worker.run())
    try:
        assert await until(lambda: out.failures == 1 and worker.counters.get("turns_uncommitted") == 1)
        # Failed between the turn and its commit: not advanced, no replies, row to redo.
        assert store.retrieve_now(sender) is None
        assert outbox_rows(db) == 0 and inbox_states(db) == ["todo"]
        assert await until(lambda: inbox_states(db) == ["done"])  # retried after ~1 s
    finally:
        await worker.stop(5)
        running.cancel()
    saved = store.retrieve_now(sender)
    assert turns == [1, 1]  # the redone turn started from the same state
    assert saved is not None and saved.get_slot("kyr_step") == "1"
    with db.connect() as connection:
        sealed = connection.execute(sa.select(outbox_table.c.sealed)).all()
    assert len(sealed) == 1  # one set of replies, for the one turn that counted


def conversations_started(services: Services) -> int:
    from bot.app.counters import CONVERSATIONS, community_day

    today = community_day(services.counters.clock())
    tomorrow = today + dt.timedelta(days=1)
    return sum(services.counters.totals(CONVERSATIONS, today, tomorrow).values())


async def test_the_real_engine_turn_is_committed_with_its_replies(services: Services) -> None:
    """Through Rasa: its tracker save inside handle_message is held, not written; so are
    the turn's counts (the redone turn counts its new conversation once, not twice)."""
    db = services.db
    with db.begin() as connection:
        connection.execute(sa.delete(outbox_table))
        connection.execute(sa.delete(inbox_table))
    started = conversations_started(services)
    user = f"atom-engine-{uuid.uuid4().hex[:8]}"
    box, out = Inbox(db, SECRET), FailingOnce(db, SECRET)
    box.put([Envelope("test", "e-1", user, "message", {"user": user, "to": user, "text": "/menu"})])
    worker = InboxWorker(box, out, EngineTurns(services), concurrency=2)
    key = services.conversation.resident(InboundMessage("test", user))
    running = asyncio.create_task(worker.run())
    try:
        assert await until(lambda: worker.counters.get("turns_uncommitted") == 1)
        assert services.engine.store.retrieve_now(key) is None  # Rasa's save was held
        assert outbox_rows(db) == 0
        assert conversations_started(services) == started  # and so was its count
        assert await until(lambda: inbox_states(db) == ["done"])
    finally:
        await worker.stop(5)
        running.cancel()
    assert services.engine.store.retrieve_now(key) is not None
    assert outbox_rows(db) >= 1
    assert conversations_started(services) == started + 1
    with db.begin() as connection:  # nothing of this test for another test's sender
        connection.execute(sa.delete(outbox_table))
        connection.execute(sa.delete(inbox_table))


async def test_an_erasure_within_a_turn_is_not_undone_by_its_commit(db: sa.engine.Engine) -> None:
    """/delete in a turn: the held save must not write the conversation back at the commit."""
    from bot.storage import unit

    store = KyrTrackerStore(DOMAIN, db)
    sender = f"erase-{uuid.uuid4().hex}"
    store.save_now(DialogueStateTracker.from_events(sender, [ActionExecuted("action_listen")],
                                                    DOMAIN.slots))
    with unit.holding() as held:
        tracker = await store.retrieve(sender)
        assert tracker is not None
        tracker.update(SlotSet("kyr_step", "deleting"))
        await store.save(tracker)  # Rasa saves the turn...
        assert (await store.retrieve(sender)).get_slot("kyr_step") == "deleting"  # type: ignore[union-attr]
        await store.delete(sender)  # ...then the erasure runs (bot.app.residents)
        assert await store.retrieve(sender) is None
    with db.begin() as connection:
        held.commit(connection)
    assert store.retrieve_now(sender) is None
