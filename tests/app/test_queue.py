"""The inbox and outbox: dedupe, per-conversation order, leases, and a SIGKILLed worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.app.inbox import Envelope, Inbox
from bot.app.outbox import SEND_BUDGET, Delivery, Draft, Outbox, Sender
from bot.app.queue_tables import inbox as inbox_table, outbox as outbox_table
from bot.storage.db import make_engine
from bot.settings import PROJECT_ROOT
from tests.app.queue_process import SECRET
from tests.channels.local_server import LocalServer


@pytest.fixture
def db(database_url: str) -> sa.engine.Engine:
    engine = make_engine(database_url)  # migrated to the newest revision
    with engine.begin() as connection:
        connection.execute(sa.delete(outbox_table))
        connection.execute(sa.delete(inbox_table))
    yield engine
    engine.dispose()


def envelope(user: str, seq: int, sent_at: float | None = None) -> Envelope:
    return Envelope("test", f"{user}-{seq}", user, "message", {"user": user, "seq": seq}, sent_at)


def test_a_redelivered_id_is_stored_once(db: sa.engine.Engine) -> None:
    box = Inbox(db, SECRET)
    assert box.put([envelope("a", 0), envelope("a", 1)]).new == 2
    again = box.put([envelope("a", 0)])
    assert (again.new, again.duplicate) == (0, 1)
    with db.connect() as connection:
        keys = [r.key for r in connection.execute(sa.select(inbox_table.c.key))]
        sealed = [r.sealed for r in connection.execute(sa.select(inbox_table.c.sealed))]
    assert "a-0" not in "".join(keys) and all("seq" not in s for s in sealed)  # keyed, sealed


def test_one_turn_per_conversation_in_arrival_order(db: sa.engine.Engine) -> None:
    box = Inbox(db, SECRET)
    box.put([envelope(u, s) for s in range(3) for u in ("a", "b")])
    first = box.take(10)
    assert sorted((t.body["user"], t.body["seq"]) for t in first) == [("a", 0), ("b", 0)]
    assert box.take(10) == []  # both conversations are busy
    assert box.complete(first[0])
    second = box.take(10)
    assert [(t.body["user"], t.body["seq"]) for t in second] == [(first[0].body["user"], 1)]


def test_a_lost_lease_writes_no_replies(db: sa.engine.Engine) -> None:
    now = [1000.0]
    box, out = Inbox(db, SECRET, lease=5, clock=lambda: now[0]), Outbox(db, SECRET)
    box.put([envelope("a", 0)])
    slow = box.take(1)[0]
    now[0] += 6  # the lease ran out: another worker takes the row
    fast = box.take(1)[0]
    assert fast.id == slow.id and fast.lease != slow.lease
    draft = Draft("test", slow.conversation, "a", {"text": "x"})
    assert box.complete(fast, lambda c: out.write(c, [draft], fast.id))
    assert not box.complete(slow, lambda c: out.write(c, [draft], slow.id))
    with db.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() == 1


def test_stale_messages_are_recorded_not_answered(db: sa.engine.Engine) -> None:
    box = Inbox(db, SECRET, max_age=3600)
    stored = box.put([envelope("a", 0, time.time() - 3 * 86400), envelope("a", 1, time.time())])
    assert (stored.new, stored.stale) == (1, 1)
    assert [t.body["seq"] for t in box.take(5)] == [1]
    assert box.put([envelope("a", 0, time.time() - 3 * 86400)]).duplicate == 1


def test_a_failing_turn_is_retried_in_order_then_recorded(db: sa.engine.Engine) -> None:
    now = [1000.0]
    box = Inbox(db, SECRET, clock=lambda: now[0])
    box.put([envelope("a", 0), envelope("a", 1)])
    for attempt in range(1, 6):
        row = box.take(5)
        assert [t.body["seq"] for t in row] == [0]  # seq 1 waits behind the failing one
        assert box.retry(row[0]) == ("failed" if attempt == 5 else "retry")
        now[0] += 60
    assert [t.body["seq"] for t in box.take(5)] == [1]
    assert box.counts().get("failed") == 1


def test_outbox_sends_replies_before_bulk_and_in_conversation_order(db: sa.engine.Engine) -> None:
    out = Outbox(db, SECRET)
    out.enqueue([Draft("test", "c1", "1", {"n": 1}, priority=2)])
    out.enqueue([Draft("test", "c2", "2", {"n": 2}), Draft("test", "c2", "2", {"n": 3})])
    claimed = out.claim("test", 10)
    assert [c.item["n"] for c in claimed] == [2, 1]  # reply first; c2's second waits
    out.sent(claimed[0])
    assert [c.item["n"] for c in out.claim("test", 10)] == [3]


async def test_a_send_starts_only_with_a_send_budget_of_lease_left(db: sa.engine.Engine) -> None:
    """A row that waited in the pacer until less than SEND_BUDGET of its lease is left goes
    back unsent: sent now, the lease could pass mid-send and another worker send it too."""
    now = [1000.0]
    out = Outbox(db, SECRET, lease=2 * SEND_BUDGET, clock=lambda: now[0])
    out.enqueue([Draft("test", "c1", "1", {"n": 1})])
    sent: list[dict[str, Any]] = []

    async def deliver(address: str, item: dict[str, Any]) -> Delivery:
        sent.append(item)
        return Delivery(True)

    class SlowPacer:
        async def wait(self, chat: str, bulk: bool = False) -> None:
            now[0] += SEND_BUDGET + 1  # the lease has less than a send's budget left

        def sent(self) -> None:
            self.released = True  # its place in the window is given back, unsent

    pacer = SlowPacer()

    sender = Sender(out, "test", deliver, pacer)  # type: ignore[arg-type]
    (row,) = out.claim("test", 1)
    await sender._one(row)
    assert sent == [] and sender.counters == {"released": 1} and pacer.released
    now[0] += 1
    (again,) = out.claim("test", 1)  # handed back at once, not after the lease
    assert again.id == row.id


def test_on_db_thread_runs_on_the_database_threads_and_inline_from_one(db: sa.engine.Engine) -> None:
    """A broadcast's steps go to the database's threads (on SQLite the one writer); asked
    from such a thread, the work runs right there instead of waiting for itself."""
    import concurrent.futures
    import threading

    from bot.app.queue_tables import on_db_thread

    names: list[str] = []

    def where() -> int:
        names.append(threading.current_thread().name)
        return len(names)

    with concurrent.futures.ThreadPoolExecutor(1) as elsewhere:  # as asyncio.to_thread would
        assert elsewhere.submit(on_db_thread, db, where).result(timeout=10) == 1
        nested = elsewhere.submit(on_db_thread, db, lambda: on_db_thread(db, where))
        assert nested.result(timeout=10) == 2  # no deadlock on SQLite's single thread
    assert all(name.startswith("kyr-db-") for name in names), names


# ---- the crash test ----

class Sink(LocalServer):
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/send", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        self.got.append(await request.json())
        return web.json_response({"ok": True})


def held_unmarked(db: sa.engine.Engine, settle: float) -> set[tuple[int, int]]:
    """(inbox row, part) of the outbox rows claimed and not marked at the kill. With a live
    worker beside the dead one, the rows still held by the same lease after `settle`
    seconds (the live one marks its own in milliseconds; the test's lease is 5 s)."""
    def doing() -> dict[tuple[int, int], str]:
        with db.connect() as connection:
            return {(r.inbox_id, r.part): r.lease for r in connection.execute(sa.select(
                outbox_table.c.inbox_id, outbox_table.c.part, outbox_table.c.lease).where(
                outbox_table.c.state == "doing"))}

    first = doing()
    if not settle:
        return set(first)
    time.sleep(settle)
    later = doing()
    return {key for key, lease in first.items() if later.get(key) == lease}


def start_worker(url: str, sink: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.app.queue_process", url, sink, "5"],
                               stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


async def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def test_sigkill_mid_burst_loses_nothing_and_keeps_order(
        db: sa.engine.Engine, database_url: str) -> None:
    residents, messages = 50, 4
    sink = Sink()
    await sink.start()
    url = f"http://127.0.0.1:{sink.port}/send"
    box = Inbox(db, SECRET)
    # PostgreSQL: two worker processes share the queue (one is killed); SQLite: one process.
    count = 2 if database_url.startswith("postgresql") else 1
    workers = [await asyncio.to_thread(start_worker, database_url, url) for _ in range(count)]
    worker = workers[0]
    try:
        async def resident(i: int) -> None:  # each resident writes one message after another
            for seq in range(messages):
                await asyncio.to_thread(box.put, [envelope(f"r{i}", seq)])  # = acknowledged
                await asyncio.sleep(0.01)

        burst = asyncio.gather(*(resident(i) for i in range(residents)))
        assert await wait_until(lambda: len(sink.got) >= 60, 30), "no replies before the kill"
        worker.send_signal(signal.SIGKILL)  # mid-burst: turns and sends in flight
        worker.wait(10)
        killed_at = len(sink.got)
        unmarked = await asyncio.to_thread(held_unmarked, db, 0.5 if count > 1 else 0.0)
        await asyncio.sleep(0.5)  # requests the dead worker wrote may still sit in the socket
        received_at_kill = {tuple(map(int, g["text"].split(":")[:2])) for g in sink.got}
        await burst
        workers[0] = await asyncio.to_thread(start_worker, database_url, url)
        wanted = residents * messages * 2
        await wait_until(lambda: len(sink.got) >= wanted, 60)
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
    finally:
        for process in workers:
            process.kill()
            process.wait(10)
        await sink.stop()

    in_flight = unmarked & received_at_kill  # sent, and the dead sender had not marked them
    print(f"killed after {killed_at} of {wanted} replies; {len(sink.got)} received; the dead "
          f"worker held {len(unmarked)} unmarked, {len(in_flight)} of them already received")
    assert killed_at < wanted, "the kill came after everything was sent: no crash tested"
    texts = [g["text"] for g in sink.got]
    by_resident: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for text in texts:
        _, part, user, seq = text.split(":")
        by_resident[user].append((int(seq), int(part)))
    lost = {(f"r{i}", s, p) for i in range(residents) for s in range(messages) for p in (0, 1)} \
        - {(u, s, p) for u, pairs in by_resident.items() for s, p in pairs}
    assert not lost, f"{len(lost)} replies lost, e.g. {sorted(lost)[:5]}"
    # A reply may go twice only if its sender died between the platform's OK and the
    # record of it: such a row was claimed again (attempts > 1). Nothing else repeats.
    with db.connect() as connection:
        retaken = {(r.inbox_id, r.part) for r in connection.execute(sa.select(
            outbox_table.c.inbox_id, outbox_table.c.part).where(outbox_table.c.attempts > 1))}
        states = dict(connection.execute(sa.select(
            inbox_table.c.state, sa.func.count()).group_by(inbox_table.c.state)).all())
    duplicates = [t for t in set(texts) if texts.count(t) > 1]
    twice = {(int(t.split(":")[0]), int(t.split(":")[1])) for t in duplicates}
    assert twice <= retaken, duplicates
    # Exactly the at-least-once window: every duplicate was received by the platform while
    # the killed worker still held its row unmarked. Nothing else (no lease taken over from
    # a live sender, no redone turn) sends twice.
    assert twice <= in_flight, sorted(twice - in_flight)
    assert len(duplicates) <= 16, duplicates  # at most what one sender had in flight
    assert states == {"done": residents * messages}
    for user, pairs in by_resident.items():
        first_seen = list(dict.fromkeys(pairs))  # a resent duplicate does not reorder
        assert first_seen == sorted(first_seen), (user, pairs)


def test_sent_rows_are_marked_together_and_only_while_their_lease_holds(db: sa.engine.Engine) -> None:
    """Outbox.settle marks its sent rows in one statement: each one only while a lease of
    the batch still holds it (a row another sender took over stays theirs), each once (a
    row claimed twice by this sender is counted and observed once), with the others of the
    batch (failed, retried) marked as before, in the same transaction."""
    box = Outbox(db, SECRET)
    seen: list[tuple[int, str]] = []
    box.observers.append(lambda _c, row_id, _item, state, _why: seen.append((row_id, state)))
    box.enqueue([Draft("whatsapp", f"c{n}", f"+1{n}", {"text": str(n)}) for n in range(5)])
    first, second = box.claim("whatsapp", 2), box.claim("whatsapp", 3)
    assert len(first) == 2 and len(second) == 3 and first[0].lease != second[0].lease
    taken_over, failing = second[1], second[2]
    with db.begin() as connection:  # another sender's claim, after this one's lease ran out
        connection.execute(sa.update(outbox_table).where(outbox_table.c.id == taken_over.id)
                           .values(lease="someone-else"))
    outcome = box.settle([(first[0], Delivery(True)), (first[1], Delivery(True)),
                          (first[0], Delivery(True)), (second[0], Delivery(True)),
                          (taken_over, Delivery(True)), (failing, Delivery(False, "refused"))])
    assert outcome == {"sent": 3, "failed": 1}
    assert sorted(seen) == sorted([(first[0].id, "sent"), (first[1].id, "sent"),
                                   (second[0].id, "sent"), (failing.id, "failed")])
    with db.connect() as connection:
        rows = {r.id: r for r in connection.execute(sa.select(outbox_table))}
    for row in (first[0], first[1], second[0]):
        assert (rows[row.id].state, rows[row.id].sealed, rows[row.id].lease) == ("sent", None, None)
        assert rows[row.id].sent_at is not None and rows[row.id].reason is None
    assert (rows[taken_over.id].state, rows[taken_over.id].lease) == ("doing", "someone-else")
    assert rows[taken_over.id].sealed is not None
    assert (rows[failing.id].state, rows[failing.id].reason) == ("failed", "refused")


def test_a_busy_queue_refreshes_its_statistics_on_postgresql(db: sa.engine.Engine) -> None:
    """A claim that sees a full prefix of waiting rows has PostgreSQL analyze the queue
    (bot.app.queue_tables.refresh_statistics), at most every ANALYZE_EVERY seconds, so the
    claim is planned for the queue it has now; a quiet queue is not analyzed."""
    from bot.app import queue_tables

    if db.dialect.name != "postgresql":
        pytest.skip("SQLite plans without statistics")

    def analyzed(table: str) -> int:
        with db.connect() as connection:  # ANALYZE commands (autovacuum's are not counted)
            connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            return int(connection.execute(sa.text(
                "SELECT analyze_count FROM pg_stat_user_tables "
                "WHERE relname = :t"), {"t": table}).scalar() or 0)

    def settle(table: str, before: int) -> int:
        deadline = time.monotonic() + 5  # the counts reach the statistics view soon after
        while analyzed(table) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        return analyzed(table)

    queue_tables._analyzed.clear()
    box, out = Inbox(db, SECRET), Outbox(db, SECRET)
    box.put([envelope(f"u{n}", 0) for n in range(3)])
    before = analyzed(inbox_table.name)
    assert len(box.take(1)) == 1  # three waiting rows: a quiet queue
    time.sleep(0.3)
    assert analyzed(inbox_table.name) == before
    box.put([envelope(f"u{n}", 0) for n in range(3, queue_tables.CANDIDATES + 5)])
    assert len(box.take(1)) == 1
    after = settle(inbox_table.name, before)
    assert after == before + 1
    assert len(box.take(1)) == 1  # again within ANALYZE_EVERY: not analyzed again
    time.sleep(0.3)
    assert analyzed(inbox_table.name) == after

    out.enqueue([Draft("whatsapp", f"c{n}", f"+1{n}", {"text": "x"}) for n in range(
        queue_tables.CANDIDATES + 1)])
    before = analyzed(outbox_table.name)
    assert len(out.claim("whatsapp", 2)) == 2
    assert settle(outbox_table.name, before) == before + 1


def test_the_heads_query_finds_the_rows_the_anti_join_finds(db: sa.engine.Engine) -> None:
    """PostgreSQL claims through each conversation's head (bot.app.inbox._HEADS and its
    outbox twin), planned the same whatever the statistics say; they must be exactly the
    rows the per-row anti-join finds, on both queues and both databases, leases included."""
    import random

    from bot.app import inbox as inbox_module, outbox as outbox_module

    rng = random.Random(18)
    now = 1000.0
    inbox_rows, outbox_rows = [], []
    for n in range(400):
        state = rng.choice(("todo", "todo", "doing", "done", "sent", "failed"))
        lease = rng.choice((None, now - 5, now + 5))
        conversation = f"c{rng.randrange(40)}"
        inbox_rows.append({"channel": "test", "key": f"k{n}", "conversation": conversation,
                           "kind": "message", "sealed": None,
                           "state": {"sent": "done", "failed": "done"}.get(state, state),
                           "lease_until": lease, "attempts": 0, "received_at": now})
        outbox_rows.append({"channel": rng.choice(("telegram", "whatsapp")),
                            "conversation": conversation, "priority": rng.randrange(3),
                            "part": 0, "state": {"done": "sent"}.get(state, state),
                            "lease_until": lease, "attempts": 0, "created_at": now})
    in_box, out_box = Inbox(db, SECRET), Outbox(db, SECRET)
    with db.begin() as connection:
        connection.execute(sa.insert(inbox_table), inbox_rows)
        connection.execute(sa.insert(outbox_table), outbox_rows)
        for n in (1, 7, 500):
            found = [connection.execute(sa.text(sql), {"now": now, "n": n}).scalars().all()
                     for sql in (inbox_module._READY, inbox_module._HEADS)]
            assert found[0] == found[1] and (n == 1 or len(found[0]) > 1)
            # What a claim leases first: the heads among a prefix of the queue, the whole
            # queue's heads query when the prefix holds too few (k 3 and 10 take that way).
            for k in (3, 10, 64, 1000):
                assert in_box.heads(connection, now, n, k)[:n] == found[0], (n, k)
            for channel in ("telegram", "whatsapp"):
                found = [connection.execute(sa.text(sql), {"now": now, "n": n,
                                                           "channel": channel}).scalars().all()
                         for sql in (outbox_module._READY, outbox_module._HEADS)]
                assert found[0] == found[1] and (n == 1 or len(found[0]) > 1)
                for k in (3, 10, 64, 1000):
                    assert out_box.heads(connection, channel, now, n, k)[:n] == found[0], (n, k)


def test_a_new_outbox_row_has_exactly_the_columns_the_prepared_insert_names(
        db: sa.engine.Engine) -> None:
    """A column added to the row but not to `_NEW_COLUMNS` would be dropped silently by the
    one-row insert; one missing from the row would fail only when a turn has one reply."""
    from bot.app.outbox import _NEW_COLUMNS

    row = Outbox(db, SECRET)._new_row(Draft("whatsapp", "c", "+1", {"message": {}}), 7, 1, 1.0)
    assert set(row) == set(_NEW_COLUMNS)
    with db.begin() as connection:  # one draft (prepared) and two (SQLAlchemy) agree
        box = Outbox(db, SECRET)
        box.write(connection, [Draft("whatsapp", "one", "+1", {"message": {"text": "a"}})], 7)
        box.write(connection, [Draft("whatsapp", "two", "+1", {"message": {"text": "b"}}),
                               Draft("whatsapp", "two", "+1", {"message": {"text": "c"}})], 8)
        written = connection.execute(sa.select(
            outbox_table.c.conversation, outbox_table.c.inbox_id, outbox_table.c.part,
            outbox_table.c.state, outbox_table.c.attempts, outbox_table.c.priority).where(
            outbox_table.c.conversation.in_(("one", "two"))).order_by(outbox_table.c.id)).all()
    assert [tuple(r) for r in written] == [("one", 7, 0, "todo", 0, 0), ("two", 8, 0, "todo", 0, 0),
                                           ("two", 8, 1, "todo", 0, 0)]
