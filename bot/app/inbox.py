"""The durable inbox: a webhook's messages are rows before the platform hears 200.

A row is written in the same transaction that dedupes its platform id (a unique key), so
a message is either stored once or recognised as a redelivery. Workers claim rows with a
lease: at most one row of a conversation is claimed at a time, always the earliest one
not done, so a resident's messages are handled one by one in arrival order, on any
worker. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED` (workers never wait for each
other); on SQLite the claim is one UPDATE (SQLite serialises writers; one process).

A worker that dies leaves its rows leased; when the lease runs out another worker takes
them again. A row is done only in the transaction that writes its replies to the outbox,
and only if the worker still holds the lease: a slow worker whose lease was taken over
cannot add a second set of replies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Connection, Engine

from bot.app.queue_tables import CANDIDATES, any_of, first_heads, inbox, lease_heads
from bot.identity import resident_key
from bot.storage.addresses import sealer
from bot.storage.db import transaction
from bot.storage.prepared import Prepared

logger = logging.getLogger(__name__)

LEASE = 60.0  # seconds a claim holds without renewal; a live worker renews every LEASE/3
MAX_ATTEMPTS = 5  # a message that fails this often is recorded as failed, and the next goes
KEEP = 3 * 24 * 3600.0  # done rows (hashes only) are kept this long: the dedupe window


@dataclass(frozen=True)
class Envelope:
    """One platform message as the edge hands it over (raw ids; hashed before storing)."""

    channel: str
    platform_id: str  # the message or update id the platform redelivers with
    sender: str  # the platform's id of the resident or chat: the conversation
    kind: str  # "message", "status", "group"
    body: dict[str, Any]
    platform_at: float | None = None  # the platform's own timestamp, epoch seconds


@dataclass(frozen=True)
class Taken:
    id: int
    channel: str
    conversation: str
    kind: str
    body: dict[str, Any]
    attempts: int
    lease: str


@dataclass(frozen=True)
class Stored:
    new: int = 0
    duplicate: int = 0
    stale: int = 0


_READY = f"""
    SELECT i.id FROM {inbox.name} i
    WHERE i.state IN ('todo', 'doing')
      AND (i.lease_until IS NULL OR i.lease_until < :now)
      AND NOT EXISTS (SELECT 1 FROM {inbox.name} e
                      WHERE e.conversation = i.conversation AND e.id < i.id
                        AND e.state IN ('todo', 'doing'))
    ORDER BY i.id LIMIT :n"""
# PostgreSQL: the same rows (each conversation's earliest open row, if its lease is free) as
# a join on each conversation's head. The anti-join above is planned from statistics: on a
# table never analyzed, or analyzed while nothing waited, PostgreSQL expects one waiting
# row and runs it as a nested loop over every waiting row (866 ms a claim at 2,800 rows,
# measured on the outbox's twin of this query; the serving bench's one-worker run fell to a
# third of its speed). The heads are one pass over the waiting rows, whatever the planner
# believes (4 ms there).
_HEADS = f"""
    SELECT i.id FROM {inbox.name} i
    JOIN (SELECT MIN(id) AS id FROM {inbox.name} WHERE state IN ('todo', 'doing')
          GROUP BY conversation) h ON h.id = i.id
    WHERE i.lease_until IS NULL OR i.lease_until < :now
    ORDER BY i.id LIMIT :n"""


def _ready_sql(dialect: str) -> str:
    return _HEADS if dialect == "postgresql" else _READY


_FREE = "(lease_until IS NULL OR lease_until < :now)"
# A claim's first read: the first :k free open rows by id, each with whether it is its
# conversation's earliest open row. Two ordered scans of the (state, id) index, one a state
# (PostgreSQL chooses them once its statistics know the queue: refresh_statistics),
# and an index probe a row on (conversation, id): its cost does not grow with the queue,
# where the heads query above reads every waiting row (3.7 ms at 2,500 on PostgreSQL,
# EXPLAIN ANALYZE; a claim ran it twice, the first time to see whether to claim at all).
_CANDIDATES = Prepared(sa.text(f"""
    SELECT c.id, NOT EXISTS (SELECT 1 FROM {inbox.name} e
                             WHERE e.conversation = c.conversation AND e.id < c.id
                               AND e.state IN ('todo', 'doing')) AS head
    FROM (SELECT id, conversation FROM (SELECT id, conversation FROM {inbox.name}
                                        WHERE state = 'todo' AND {_FREE} ORDER BY id LIMIT :k) t
          UNION ALL
          SELECT id, conversation FROM (SELECT id, conversation FROM {inbox.name}
                                        WHERE state = 'doing' AND {_FREE} ORDER BY id LIMIT :k) d) c
    ORDER BY c.id LIMIT :k"""))


def _claim_sql(dialect: str) -> Prepared:
    """Lease the first :n of the heads :ids still free. On PostgreSQL a head another
    worker is claiming is skipped (the next one is taken): its row lock says so."""
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    return Prepared(sa.text(f"""
        UPDATE {inbox.name} SET state = 'doing', lease = :lease, lease_until = :until,
               attempts = attempts + 1
        WHERE id IN (SELECT id FROM {inbox.name}
                     WHERE {any_of(dialect, "id", "ids")} AND state IN ('todo', 'doing') AND {_FREE}
                     ORDER BY id LIMIT :n{lock})
        RETURNING id, channel, conversation, kind, sealed, attempts"""))


# Built once (bot.storage.tracker_store says why): a statement made per call cost 150 us
# of CPU against 17 us prebuilt, measured on SQLite; a message passes three of them here.
# Run on the driver's cursor (bot.storage.prepared): through SQLAlchemy's execution path
# the mark cost 121-136 us of CPU against 63-91 on PostgreSQL, 19-20 against 6 on SQLite
# (3,000 runs each).
_MARK = Prepared(sa.update(inbox).where(
    inbox.c.id == sa.bindparam("row_id"), inbox.c.lease == sa.bindparam("token"),
    inbox.c.state == "doing").values(state=sa.bindparam("new_state"), sealed=sa.null(), lease=sa.null(),
                                     lease_until=sa.null(), done_at=sa.bindparam("at")))
_RENEW = Prepared(sa.update(inbox).where(
    inbox.c.id == sa.bindparam("row_id"), inbox.c.lease == sa.bindparam("token"),
    inbox.c.state == "doing").values(lease_until=sa.bindparam("until")))


# A redelivered id inserts nothing (rowcount 0). Text, as bot.app.counters does: SQLAlchemy
# 1.4 compiles its dialects' `on_conflict_do_nothing` afresh on every call (not cacheable),
# which was a third of storing a webhook in a profile of the serving bench.
_NEW_COLUMNS = ("channel", "key", "conversation", "kind", "attempts", "platform_at",
                "received_at", "state", "sealed", "done_at")
_PUT = Prepared(sa.text(
    f"INSERT INTO {inbox.name} ({', '.join(_NEW_COLUMNS)})"
    f" VALUES ({', '.join(':' + name for name in _NEW_COLUMNS)})"
    " ON CONFLICT (channel, key) DO NOTHING"
).bindparams(*(sa.bindparam(name, type_=inbox.c[name].type) for name in _NEW_COLUMNS)))


class Inbox:
    def __init__(self, engine: Engine, secret: bytes, max_age: float | None = None,
                 lease: float = LEASE, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.secret = secret
        self.fernet = sealer(secret, b"kyr-inbox-v1")
        self.max_age = max_age
        self.lease = lease
        self.clock = clock
        self._claim = _claim_sql(engine.dialect.name)
        self._everything = sa.text(_ready_sql(engine.dialect.name))

    def key(self, channel: str, platform_id: str) -> str:
        """Keyed: a message id can carry a phone number (WhatsApp's wamid does)."""
        raw = f"{channel}:{platform_id}".encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, raw, hashlib.sha256).hexdigest()

    def conversation(self, channel: str, sender: str) -> str:
        return resident_key(self.secret, channel, sender)

    # ---- the edge ----

    def put(self, envelopes: Iterable[Envelope]) -> Stored:
        """Store a body's messages in one transaction; only then may the edge say 200."""
        now = self.clock()
        new = duplicate = stale = 0
        with transaction(self.engine) as connection:
            for envelope in envelopes:
                too_old = (self.max_age is not None and envelope.platform_at is not None
                           and envelope.platform_at < now - self.max_age)
                row = {"channel": envelope.channel,
                       "key": self.key(envelope.channel, envelope.platform_id),
                       "conversation": self.conversation(envelope.channel, envelope.sender),
                       "kind": envelope.kind, "attempts": 0, "platform_at": envelope.platform_at,
                       "received_at": now,
                       # A stale message is recorded (its id is deduped), never answered.
                       "state": "stale" if too_old else "todo",
                       "sealed": None if too_old else self.seal(envelope.body),
                       "done_at": now if too_old else None}
                if not _PUT.execute(connection, row).rowcount:
                    duplicate += 1
                elif too_old:
                    stale += 1
                else:
                    new += 1
        return Stored(new, duplicate, stale)

    def seal(self, body: dict[str, Any]) -> str:
        return self.fernet.encrypt(json.dumps(body, ensure_ascii=False).encode()).decode()

    def unseal(self, sealed: str | None) -> dict[str, Any] | None:
        if sealed is None:
            return None
        try:
            value = json.loads(self.fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError):
            return None
        return value if isinstance(value, dict) else None

    # ---- workers ----

    def take(self, limit: int) -> list[Taken]:
        """Claim up to `limit` rows, each the next of a conversation no one is handling."""
        if limit <= 0:
            return []
        token = uuid.uuid4().hex
        now = self.clock()
        rows = lease_heads(self.engine, lambda connection: self.heads(connection, now, limit),
                           self._claim, {"lease": token, "until": now + self.lease, "now": now,
                                         "n": limit})
        rows.sort(key=lambda row: row.id)  # RETURNING's order is not the claim's
        taken = []
        for row in rows:
            body = self.unseal(row.sealed)
            if body is None:  # sealed with another key, or damaged: nothing to answer
                self._finish(row.id, token, "failed")
                continue
            taken.append(Taken(row.id, row.channel, row.conversation, row.kind, body,
                               row.attempts, token))
        return taken

    def heads(self, connection: Connection, now: float, want: int, k: int = CANDIDATES) -> list[int]:
        """The ids a claim of `want` rows may lease, in order (bot.app.queue_tables.first_heads)."""
        return first_heads(connection, _CANDIDATES, self._everything, {"now": now}, want, k, inbox.name)

    def renew(self, taken: Taken) -> bool:
        """Extend the lease of a row still being handled; False if it was taken over."""
        with transaction(self.engine) as connection:
            return bool(_RENEW.execute(connection, {"row_id": taken.id, "token": taken.lease,
                                                    "until": self.clock() + self.lease}).rowcount)

    def complete(self, taken: Taken, write: Callable[[Connection], None] | None = None) -> bool:
        """Done, with its replies written by `write` in the same transaction.

        False (and nothing written) when the lease was lost: another worker has the row.
        """
        with transaction(self.engine) as connection:
            if not self._mark(connection, taken.id, taken.lease, "done"):
                return False
            if write is not None:
                write(connection)
        return True

    def retry(self, taken: Taken) -> str:
        """The handler failed: try again later (in order), or give up after MAX_ATTEMPTS."""
        if taken.attempts >= MAX_ATTEMPTS:
            self._finish(taken.id, taken.lease, "failed")
            return "failed"
        delay = min(0.5 * 2 ** taken.attempts, 30.0)
        with transaction(self.engine) as connection:
            connection.execute(sa.update(inbox).where(
                inbox.c.id == taken.id, inbox.c.lease == taken.lease).values(
                state="todo", lease=None, lease_until=self.clock() + delay))
        return "retry"

    def _finish(self, row_id: int, token: str, state: str) -> None:
        with transaction(self.engine) as connection:
            self._mark(connection, row_id, token, state)

    def _mark(self, connection: Connection, row_id: int, token: str, state: str) -> bool:
        return bool(_MARK.execute(connection, {"row_id": row_id, "token": token, "new_state": state,
                                               "at": self.clock()}).rowcount)

    # ---- housekeeping ----

    def forget_old(self, keep: float = KEEP) -> int:
        """Finished rows past the dedupe window go (hashes only remain until then)."""
        with transaction(self.engine) as connection:
            return int(connection.execute(sa.delete(inbox).where(
                inbox.c.state.in_(("done", "stale", "failed")),
                inbox.c.done_at < self.clock() - keep)).rowcount)

    def counts(self) -> dict[str, int]:
        """Rows by state, for /metrics: the same numbers on every worker."""
        with self.engine.connect() as connection:
            return {state: int(n) for state, n in connection.execute(
                sa.select(inbox.c.state, sa.func.count()).group_by(inbox.c.state))}

    def waiting(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).where(
                inbox.c.state.in_(("todo", "doing")))).scalar() or 0)
