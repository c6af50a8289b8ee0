"""The durable outbox: every reply is a row before anything is sent.

A turn's replies are written in the transaction that marks its inbox row done, so a crash
either loses neither or keeps both. Senders, one per channel in every worker, claim rows
the way inbox workers do: the earliest unsent row of each conversation (a resident's
replies arrive in order), replies to residents (priority 0) before staff messages (1) and
bulk (2), paced by the platform's limits (bot.app.pacing). 429s, 5xx and timeouts are
retried with backoff; a final failure is recorded for staff (kyr_deliveries) and the
conversation's next rows go on. A sender marks its finished sends together (one
transaction for those finished within FLUSH seconds, `Outbox.settle`), not one commit each.

Alerts (bot.app.broadcast) ride the same rows at priority BULK: a sender's `gate`, asked
once per claimed batch, may skip a row before it is paced (the resident opted out since it
was queued: state "skipped"), and `Outbox.observers` are called in the transaction that marks a row sent,
failed or skipped, so the alert's own delivery rows follow the outbox exactly.

A reply is sent twice only if a sender dies after the platform accepted it and before the
row was marked sent (no platform here takes an idempotency key; the marks wait up to FLUSH
seconds): at least once, never lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Optional, Sequence

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Connection, Engine

from bot.app.pacing import Pacer
from bot.app.queue_tables import (CANDIDATES, any_of, first_heads, in_db_thread, lease_heads,
                                  listed, outbox)
from bot.core.messages import Button, OutboundMessage
from bot.storage.addresses import record_delivery, sealer
from bot.storage.db import transaction
from bot.storage.prepared import Prepared

logger = logging.getLogger(__name__)

REPLY, STAFF, BULK = 0, 1, 2
LEASE = 60.0
# The longest one send may take (bot.channels.http.TIMEOUT: a pooled connection 10 s,
# connect 5 s, the answer 10 s), with room for a long text's second part. A send starts
# only with this much of its lease left, so the lease cannot pass mid-send and another
# worker send the same row again (with a 10 s lease and a Graph API double slow to answer,
# a send could outlive its lease); and the application's leases are at least twice this
# (bot.app.services).
SEND_BUDGET = 30.0
MAX_ATTEMPTS = 6  # about 30 s of backoff in all, then recorded as failed
REFILL = 0.1  # seconds a full sender waits for half its sends before claiming again
FLUSH = 0.05  # seconds a sender gathers finished sends before marking them together


@dataclass(frozen=True)
class Draft:
    """One message to send: to `address` (the platform's chat id or number) on `channel`."""

    channel: str
    conversation: str  # the resident's keyed hash: order and pacing are per conversation
    address: str
    item: dict[str, Any]  # {"message": {...}} or a channel-specific action
    priority: int = REPLY


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    conversation: str
    address: str
    item: dict[str, Any]
    attempts: int
    lease: str
    lease_until: float  # by this clock's time; a send must not start near it
    priority: int = REPLY  # BULK rows are paced in their own, smaller lane


@dataclass(frozen=True)
class Delivery:
    """What a send came to: ok, or why not and whether trying again can help."""

    ok: bool
    reason: str | None = None
    retry: bool = False
    retry_after: float | None = None  # the platform's Retry-After, seconds
    skipped: bool = False  # not sent on purpose (a gate said so): neither sent nor failed


def message_item(message: OutboundMessage) -> dict[str, Any]:
    return {"message": dataclasses.asdict(message)}


def message_of(item: dict[str, Any]) -> OutboundMessage | None:
    raw = item.get("message")
    if not isinstance(raw, dict):
        return None
    fields = dict(raw)
    fields["buttons"] = tuple(Button(str(b["title"]), str(b["payload"]))
                              for b in fields.get("buttons") or ())
    return OutboundMessage(**fields)


_READY = f"""
    SELECT o.id FROM {outbox.name} o
    WHERE o.channel = :channel AND o.state IN ('todo', 'doing')
      AND (o.lease_until IS NULL OR o.lease_until < :now)
      AND NOT EXISTS (SELECT 1 FROM {outbox.name} e
                      WHERE e.channel = o.channel AND e.conversation = o.conversation
                        AND e.id < o.id AND e.state IN ('todo', 'doing'))
    ORDER BY o.priority, o.id LIMIT :n"""
# PostgreSQL: the same rows as a join on each conversation's head, one pass over the
# waiting rows whatever the statistics say (bot.app.inbox._HEADS: on a table never analyzed
# the anti-join above took 866 ms a claim at 2,800 waiting rows; this, 4 ms).
_HEADS = f"""
    SELECT o.id FROM {outbox.name} o
    JOIN (SELECT MIN(id) AS id FROM {outbox.name}
          WHERE channel = :channel AND state IN ('todo', 'doing')
          GROUP BY conversation) h ON h.id = o.id
    WHERE o.lease_until IS NULL OR o.lease_until < :now
    ORDER BY o.priority, o.id LIMIT :n"""


def _ready_sql(dialect: str) -> str:
    return _HEADS if dialect == "postgresql" else _READY


_FREE = "channel = :channel AND (lease_until IS NULL OR lease_until < :now)"
# A claim's first read (bot.app.inbox._CANDIDATES says why): the first :k free open rows in
# claim order, each with whether it is its conversation's earliest open row, whatever its
# priority. Ordered scans of the (channel, state, priority, id) index, one a state.
_CANDIDATES = Prepared(sa.text(f"""
    SELECT c.id, NOT EXISTS (SELECT 1 FROM {outbox.name} e
                             WHERE e.channel = :channel AND e.conversation = c.conversation
                               AND e.id < c.id AND e.state IN ('todo', 'doing')) AS head
    FROM (SELECT id, conversation, priority FROM (
              SELECT id, conversation, priority FROM {outbox.name}
              WHERE state = 'todo' AND {_FREE} ORDER BY priority, id LIMIT :k) t
          UNION ALL
          SELECT id, conversation, priority FROM (
              SELECT id, conversation, priority FROM {outbox.name}
              WHERE state = 'doing' AND {_FREE} ORDER BY priority, id LIMIT :k) d) c
    ORDER BY c.priority, c.id LIMIT :k"""))


def _claim_sql(dialect: str) -> Prepared:
    """Lease the first :n of the heads :ids still free; on PostgreSQL skipping the heads
    another sender is claiming (bot.app.inbox._claim_sql)."""
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    return Prepared(sa.text(f"""
        UPDATE {outbox.name} SET state = 'doing', lease = :lease, lease_until = :until,
               attempts = attempts + 1
        WHERE id IN (SELECT id FROM {outbox.name}
                     WHERE {any_of(dialect, "id", "ids")} AND state IN ('todo', 'doing') AND {_FREE}
                     ORDER BY priority, id LIMIT :n{lock})
        RETURNING id, conversation, sealed, attempts, priority"""))


# Called in the transaction that marks a row: (connection, row id, its item when known, new
# state "sent" | "failed" | "skipped", the reason if any). Must not open another write
# transaction (on SQLite it would wait for this one).
Observer = Callable[[Connection, int, Optional[dict[str, Any]], str, Optional[str]], None]


# Built once and run on the driver's cursor (bot.app.inbox says why): every reply passes
# its INSERT, claim and mark. Several rows at once go through SQLAlchemy's executemany,
# which on PostgreSQL sends them in one INSERT (psycopg2's execute_values).
_NEW_COLUMNS = ("channel", "conversation", "priority", "inbox_id", "part", "state", "attempts",
                "created_at", "sealed")
_INSERT = sa.insert(outbox)
_INSERT_ONE = Prepared(sa.insert(outbox).values({name: sa.bindparam(name) for name in _NEW_COLUMNS}))
_MARK = Prepared(sa.update(outbox).where(  # sent, skipped or failed, if the lease is still ours
    outbox.c.id == sa.bindparam("row_id"), outbox.c.lease == sa.bindparam("token"),
    outbox.c.state == "doing").values(sealed=sa.null(), lease=sa.null(), lease_until=sa.null(),
                                      state=sa.bindparam("new_state"), sent_at=sa.bindparam("at"),
                                      reason=sa.bindparam("why")))
# Many sent rows at once (`Outbox.settle`): RETURNING says which were still ours.
SENT_BATCH = 500


def _mark_sent_sql(dialect: str) -> Prepared:
    return Prepared(sa.text(
        f"UPDATE {outbox.name} SET sealed = NULL, lease = NULL, lease_until = NULL,"
        " state = 'sent', sent_at = :at, reason = NULL"
        f" WHERE {any_of(dialect, 'id', 'ids')} AND {any_of(dialect, 'lease', 'tokens')}"
        " AND state = 'doing' RETURNING id"))


_AGAIN = Prepared(sa.update(outbox).where(  # back to todo, not before `until`
    outbox.c.id == sa.bindparam("row_id"), outbox.c.lease == sa.bindparam("token")).values(
    state="todo", lease=sa.null(), lease_until=sa.bindparam("until")))


class Outbox:
    def __init__(self, engine: Engine, secret: bytes, lease: float = LEASE,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.fernet = sealer(secret, b"kyr-outbox-v1")
        self.lease = lease
        self.clock = clock
        self._claim = _claim_sql(engine.dialect.name)
        self._marks = _mark_sent_sql(engine.dialect.name)
        self._everything = sa.text(_ready_sql(engine.dialect.name))
        self.observers: list[Observer] = []

    def write(self, connection: Connection, drafts: Iterable[Draft],
              inbox_id: int | None = None) -> int:
        """Insert in the caller's transaction (the one that marks the inbox row done)."""
        now = self.clock()
        rows = [self._new_row(d, inbox_id, part, now) for part, d in enumerate(drafts)]
        if len(rows) == 1:
            _INSERT_ONE.execute(connection, rows[0])
        elif rows:
            connection.execute(_INSERT, rows)
        return len(rows)

    def _new_row(self, draft: Draft, inbox_id: int | None, part: int, now: float) -> dict[str, Any]:
        """A row to insert: exactly the columns `_INSERT_ONE` names (`_NEW_COLUMNS`)."""
        sealed = self.fernet.encrypt(json.dumps({"to": draft.address, "item": draft.item},
                                                ensure_ascii=False).encode()).decode()
        return {"channel": draft.channel, "conversation": draft.conversation,
                "priority": draft.priority, "inbox_id": inbox_id, "part": part, "state": "todo",
                "attempts": 0, "created_at": now, "sealed": sealed}

    def add(self, connection: Connection, draft: Draft) -> int:
        """One row in the caller's transaction, and its id (for a caller that links to it)."""
        return self.add_many(connection, [draft])[0]

    def add_many(self, connection: Connection, drafts: Sequence[Draft]) -> list[int]:
        """Rows in the caller's transaction, and their ids in the drafts' order. On
        PostgreSQL one INSERT for them all (a broadcast's batch: one statement instead of
        500 round trips); each row is found by its sealed text, which is unique (Fernet's
        random IV), so the ids do not depend on the order RETURNING gives them in."""
        now = self.clock()
        rows = [self._new_row(d, None, 0, now) for d in drafts]
        if not rows:
            return []
        if connection.dialect.name == "postgresql":
            found = {sealed: int(row_id) for row_id, sealed in connection.execute(
                sa.insert(outbox).values(rows).returning(outbox.c.id, outbox.c.sealed))}
            return [found[row["sealed"]] for row in rows]
        return [int(connection.execute(sa.insert(outbox).values(**row)).inserted_primary_key[0])
                for row in rows]

    def enqueue(self, drafts: Iterable[Draft]) -> int:
        """Messages not answering an inbox row (staff replies, alerts): their own transaction."""
        with transaction(self.engine) as connection:
            return self.write(connection, drafts)

    def claim(self, channel: str, limit: int) -> list[Claimed]:
        if limit <= 0:
            return []
        token = uuid.uuid4().hex
        now = self.clock()
        rows = lease_heads(self.engine, lambda connection: self.heads(connection, channel, now, limit),
                           self._claim, {"lease": token, "until": now + self.lease, "now": now,
                                         "n": limit, "channel": channel})
        rows.sort(key=lambda row: (row.priority, row.id))  # RETURNING's order is not the claim's
        claimed = []
        for row in rows:
            try:
                value = json.loads(self.fernet.decrypt(row.sealed.encode()))
                claimed.append(Claimed(row.id, channel, row.conversation, str(value["to"]),
                                       dict(value["item"]), row.attempts, token,
                                       now + self.lease, int(row.priority)))
            except (InvalidToken, ValueError, KeyError, TypeError, AttributeError):
                self._set(row.id, token, None, state="failed", reason="unreadable outbox row")
        return claimed

    def heads(self, connection: Connection, channel: str, now: float, want: int,
              k: int = CANDIDATES) -> list[int]:
        """The ids a claim of `want` rows may lease, in order (bot.app.queue_tables.first_heads)."""
        return first_heads(connection, _CANDIDATES, self._everything,
                           {"now": now, "channel": channel}, want, k, outbox.name)

    def sent(self, claimed: Claimed) -> bool:
        return self._set(claimed.id, claimed.lease, claimed.item, state="sent",
                         sent_at=self.clock())

    def skipped(self, claimed: Claimed, reason: str) -> bool:
        """Not sent on purpose (the resident opted out since): no failure to record."""
        return self._set(claimed.id, claimed.lease, claimed.item, state="skipped",
                         reason=reason[:200])

    def retry_later(self, claimed: Claimed, delay: float) -> None:
        with transaction(self.engine) as connection:
            _AGAIN.execute(connection, {"row_id": claimed.id, "token": claimed.lease,
                                        "until": self.clock() + delay})

    def failed(self, claimed: Claimed, reason: str) -> None:
        """Given up: recorded for staff (the delivery failures the console lists)."""
        if self._set(claimed.id, claimed.lease, claimed.item, state="failed",
                     reason=reason[:200]):
            record_delivery(self.engine, claimed.channel, claimed.conversation, "failed",
                            None, reason)

    def _set(self, row_id: int, token: str, item: Optional[dict[str, Any]],
             **values: Any) -> bool:
        with transaction(self.engine) as connection:
            return self._set_in(connection, row_id, token, item, values)

    def _set_in(self, connection: Connection, row_id: int, token: str,
                item: Optional[dict[str, Any]], values: dict[str, Any]) -> bool:
        unknown = set(values) - {"state", "sent_at", "reason"}
        if unknown:
            raise ValueError(f"an outbox row's end sets no {', '.join(sorted(unknown))}")
        done = bool(_MARK.execute(connection, {
            "row_id": row_id, "token": token, "new_state": values["state"],
            "at": values.get("sent_at"), "why": values.get("reason")}).rowcount)
        if done:
            for observer in self.observers:
                observer(connection, row_id, item, str(values["state"]), values.get("reason"))
        return done

    def _mark_sent(self, connection: Connection, rows: Sequence[Claimed], now: float) -> list[Claimed]:
        """Mark sent rows in one statement per SENT_BATCH instead of one each (they were
        4,008 of a serving run's 46,661 statements on PostgreSQL), each only while one of
        this batch's leases still holds it; the rows it marked, in the given order. A row
        another sender took over after its lease ran out holds that sender's lease, which
        is not among these: it stays theirs, as with `_MARK`."""
        marked: set[int] = set()
        dialect = connection.dialect.name
        for start in range(0, len(rows), SENT_BATCH):
            part = rows[start:start + SENT_BATCH]
            marked.update(int(row[0]) for row in self._marks.execute(connection, {
                "ids": listed(dialect, [row.id for row in part]),
                "tokens": listed(dialect, sorted({row.lease for row in part})), "at": now}).rows)
        once: dict[int, Claimed] = {}
        for row in rows:  # a row claimed twice (its first lease ran out) is marked once
            if row.id in marked:
                once.setdefault(row.id, row)
        return list(once.values())

    def settle(self, results: Sequence[tuple[Claimed, Delivery]]) -> Counter[str]:
        """What many sends came to, marked in ONE transaction (sent, skipped, retried with
        backoff, or failed and recorded for staff): how many of each. A sender marks its
        finished sends together (`Sender`, within FLUSH seconds) instead of one commit per
        send: at 90 sends a second those commits, and the alert count each one added to
        the same row, kept PostgreSQL's connections busy (profiled); with the other changes
        of the same commit a broadcast's WhatsApp half went from +13.9 % to +4.5 % over its
        floor."""
        outcome: Counter[str] = Counter()
        failures: list[tuple[Claimed, str]] = []
        now = self.clock()
        sent: list[Claimed] = []
        with transaction(self.engine) as connection:
            for row, result in results:
                if result.ok:
                    sent.append(row)
                    continue
                if result.skipped:
                    name = "skipped"
                    values = {"state": "skipped", "reason": (result.reason or "skipped")[:200]}
                elif result.retry and row.attempts < MAX_ATTEMPTS:
                    delay = max(result.retry_after or 0.0, min(2.0 ** (row.attempts - 1), 16.0))
                    _AGAIN.execute(connection, {"row_id": row.id, "token": row.lease,
                                                "until": now + delay})
                    outcome["retried"] += 1
                    continue
                else:
                    reason = (result.reason or "send failed")[:200]
                    name, values = "failed", {"state": "failed", "reason": reason}
                if self._set_in(connection, row.id, row.lease, row.item, values):
                    outcome[name] += 1
                    if name == "failed":
                        failures.append((row, reason))
            for row in self._mark_sent(connection, sent, now):
                outcome["sent"] += 1
                for observer in self.observers:
                    observer(connection, row.id, row.item, "sent", None)
        for row, reason in failures:  # as `failed` does: after the mark is committed
            record_delivery(self.engine, row.channel, row.conversation, "failed", None, reason)
        return outcome

    def forget_old(self, keep: float) -> int:
        with transaction(self.engine) as connection:
            return int(connection.execute(sa.delete(outbox).where(
                outbox.c.state.in_(("sent", "failed", "skipped")),
                outbox.c.created_at < self.clock() - keep)).rowcount)

    def counts(self) -> dict[tuple[str, str], int]:
        with self.engine.connect() as connection:
            return {(channel, state): int(n) for channel, state, n in connection.execute(
                sa.select(outbox.c.channel, outbox.c.state, sa.func.count()).group_by(
                    outbox.c.channel, outbox.c.state))}


Deliver = Callable[[str, dict[str, Any]], Awaitable[Delivery]]
# Asked once for each claimed batch, before its rows are paced: {row id: a Delivery to
# record instead of sending it}; rows it does not name are sent.
Gate = Callable[[Sequence[Claimed]], Awaitable[dict[int, Delivery]]]


class Sender:
    """Drains one channel's rows: at most `concurrency` sends in flight, paced."""

    def __init__(self, box: Outbox, channel: str, deliver: Deliver, pacer: Pacer,
                 concurrency: int = 16, idle: float = 0.05, gate: Optional[Gate] = None) -> None:
        self.box = box
        self.gate = gate
        self.channel = channel
        self.deliver = deliver
        self.pacer = pacer
        self.concurrency = concurrency
        self.idle = idle
        self.in_flight: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = {}
        self._stopping = asyncio.Event()
        # sent, not yet marked; each send's task waits for its mark, so it stays in flight
        # and a crash can send again at most `concurrency` rows, as before the batching
        self._done: list[tuple[Claimed, Delivery, asyncio.Future[None]]] = []
        self._some_done = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._final = False

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def run(self) -> None:
        # Outlives run() when run is cancelled: the sends in flight still get their marks
        # (asyncio.run's end, or stop(), ends it).
        self._flusher = asyncio.create_task(self._flush_loop())
        await self._claim_loop()

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            free = self.concurrency - len(self.in_flight)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await in_db_thread(self.box.engine, self.box.claim, self.channel, free)
                except Exception as exc:  # the database is away: wait, try again
                    logger.warning("outbox claim failed (%s)", type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
            verdicts = await self._gated(claimed)
            for row in claimed:
                task = asyncio.create_task(self._one(row, verdicts.get(row.id)))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
            if not claimed:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.idle)
                except asyncio.TimeoutError:
                    pass
            elif len(self.in_flight) >= self.concurrency:
                # Full: claim again when half are done or 0.1 s has passed, not after each
                # one. A claim is a write transaction; one per row at 90 rows a second kept
                # SQLite's queue thread busy enough to slow a broadcast by a tenth
                # (measured); a reply still waits at most 0.1 s for its claim.
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                deadline = time.monotonic() + REFILL
                while len(self.in_flight) > self.concurrency // 2 and \
                        not self._stopping.is_set() and time.monotonic() < deadline:
                    await asyncio.wait(self.in_flight, timeout=deadline - time.monotonic(),
                                       return_when=asyncio.FIRST_COMPLETED)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let the sends in flight finish, and mark them all."""
        self._stopping.set()
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=grace)
        self._final = True
        self._some_done.set()
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=grace)
        await self._flush()

    async def _flush_loop(self) -> None:
        """Finished sends are marked together: the first one waits up to FLUSH seconds for
        others (less when half the sender's sends are waiting), then all of them go in one
        transaction (Outbox.settle)."""
        while True:
            await self._some_done.wait()
            if self._final:
                return
            deadline = time.monotonic() + FLUSH
            while len(self._done) < max(self.concurrency // 2, 1) and not self._final and \
                    time.monotonic() < deadline:
                await asyncio.sleep(min(0.01, max(deadline - time.monotonic(), 0.0)))
            await self._flush()

    async def _flush(self) -> None:
        batch, self._done = self._done, []
        self._some_done.clear()
        if not batch:
            return
        try:
            outcome = await in_db_thread(self.box.engine, self.box.settle,
                                         [(row, result) for row, result, _ in batch])
        except Exception as exc:
            logger.warning("%d outbox rows could not be marked (%s); their leases will expire",
                           len(batch), type(exc).__name__)
            outcome = Counter()
        for name, n in outcome.items():
            self.counters[name] = self.counters.get(name, 0) + n
        for _, _, marked in batch:
            if not marked.done():
                marked.set_result(None)

    async def _gated(self, claimed: Sequence[Claimed]) -> dict[int, Delivery]:
        if self.gate is None or not claimed:
            return {}
        try:
            return await self.gate(claimed)
        except Exception as exc:  # the gate could not look: send (they were queued to go)
            logger.warning("%s gate raised %s", self.channel, type(exc).__name__)
            return {}

    async def _one(self, row: Claimed, verdict: Optional[Delivery] = None) -> None:
        try:
            if verdict is not None:  # decided before pacing: it takes no place in the limits
                result = verdict
            else:
                await self.pacer.wait(row.address, bulk=row.priority == BULK)
                try:
                    if self.box.clock() > row.lease_until - min(SEND_BUDGET, self.box.lease / 2):
                        # Waited so long that the lease may pass mid-send and another worker
                        # send it too: hand the row back unsent instead.
                        await in_db_thread(self.box.engine, self.box.retry_later, row, 0.0)
                        self.count("released")
                        return
                    result = await self.deliver(row.address, row.item)
                finally:
                    self.pacer.sent()  # its place in the window runs out a second from now
        except Exception as exc:  # a bug or a library's surprise: retried like a timeout
            logger.warning("%s send raised %s", self.channel, type(exc).__name__)
            result = Delivery(False, f"send error ({type(exc).__name__})", retry=True)
        marked = asyncio.get_running_loop().create_future()
        self._done.append((row, result, marked))
        if self._flusher is None or self._flusher.done():
            await self._flush()  # no flusher (not run, or stopped): mark it now
        else:
            self._some_done.set()
            await marked
