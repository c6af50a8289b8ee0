"""Daily aggregate counters, written at the event by the effect that causes it.

The transparency report and the public dashboard are built from these rows only, never
from conversations, tickets or transcripts, so the numbers survive every purge and the
table holds nothing that could lead back to a resident:

- no resident key, platform id, ticket id or message text: a row is (day, kind, area,
  dimension, value, n);
- nothing finer than a day (in Chicago time: the community's day) and a community area;
- every label is a short slug from a closed vocabulary (flow ids, language codes,
  channel names, wait buckets, known dispositions); anything else is counted as "other",
  so free text typed by staff or residents can never land here.

An event adds 1 to its kind's total row (dimension "") and to one row per dimension it
carries ("language" = "es", "channel" = "telegram"), in the same transaction as the effect
when it is given one. The write is one upsert (INSERT ... ON CONFLICT DO UPDATE SET n = n +
excluded.n), atomic on SQLite and PostgreSQL when workers count the same cell at once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.core.areas import counting_slug
from bot.core.handoff import CHICAGO
from bot.handoff.tickets import URGENT, TicketEvent
from bot.storage.db import transaction, utc_now
from bot.storage.prepared import Prepared
from bot.storage.schema import counts

# ---- the vocabulary: every kind the service counts, and the dimensions each carries ----

CONVERSATIONS = "conversations_started"  # language, channel
TOPICS = "topics_entered"  # topic, language: a flow's first step shown to a resident
TICKETS_OPENED = "tickets_opened"  # topic, language, channel, priority
TICKETS_URGENT = "tickets_urgent"  # topic, how ("opened" urgent, or "escalated" while waiting)
TICKETS_CLAIMED = "tickets_claimed"  # wait (bucket), priority
TICKETS_CLOSED = "tickets_closed"  # disposition
DELETIONS = "deletions_requested"  # channel, language
DELIVERIES_FAILED = "deliveries_failed"  # channel, path ("send" refused, "status" failed later)
# The rapid-response network (reports and alerts) does not exist yet; its kinds are defined
# so that it records through this same API when it comes (Counters.report / .alert).
REPORTS = "reports"  # area; report (kind of activity), outcome (verified, unverified, ...)
ALERTS = "alerts_sent"  # area; language

KINDS: dict[str, tuple[str, ...]] = {
    CONVERSATIONS: ("language", "channel"),
    TOPICS: ("topic", "language"),
    TICKETS_OPENED: ("topic", "language", "channel", "priority"),
    TICKETS_URGENT: ("topic", "how"),
    TICKETS_CLAIMED: ("wait", "priority"),
    TICKETS_CLOSED: ("disposition",),
    DELETIONS: ("channel", "language"),
    DELIVERIES_FAILED: ("channel", "path"),
    REPORTS: ("report", "outcome"),
    ALERTS: ("language",),
}

# Waits from a ticket's opening to a person taking it: buckets, upper bounds in minutes.
WAIT_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under_5m", 5), ("5_15m", 15), ("15_60m", 60), ("1_4h", 240), ("over_4h", float("inf")))
# What staff may choose when closing (the console's list), and how the resident ends a wait.
DISPOSITIONS = {
    "resolved": "resolved", "referred to legal help": "referred_legal_help",
    "rapid response sent": "rapid_response_sent", "no reply from resident": "no_reply",
    "information only": "information_only", "resident stopped waiting": "resident_stopped",
}
OTHER = "other"
# "not_confirmed": a verifier went and did not see it, which is not the same as false.
REPORT_OUTCOMES = ("verified", "unverified", "not_confirmed", "pending")

_SLUG = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")


def slug(value: object) -> str:
    """A label as stored: a short lowercase slug, or "other" for anything else (free text)."""
    text = str(value or "").strip().lower().replace("-", "_")
    return text if _SLUG.fullmatch(text) else OTHER


def community_day(when: dt.datetime | None = None) -> dt.date:
    """The Chicago calendar day of an event: the finest time the table keeps."""
    moment = when or utc_now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(CHICAGO).date()


def wait_bucket(wait: dt.timedelta) -> str:
    minutes = max(wait.total_seconds(), 0) / 60
    return next(name for name, bound in WAIT_BUCKETS if minutes < bound)


def disposition_label(disposition: str | None) -> str:
    return DISPOSITIONS.get((disposition or "").strip().lower(), OTHER)


@dataclass(frozen=True)
class Count:
    day: dt.date
    kind: str
    area: str
    dimension: str
    value: str
    n: int


# The upsert is written once as text, the same SQL on both databases (SQLite 3.24+ and
# PostgreSQL both read ON CONFLICT ... excluded), with the columns' types on its parameters.
# SQLAlchemy 1.4 does not cache the compiled form of its own `on_conflict_do_update`
# construct (NO_CACHE_KEY): built as one, it was compiled again on every turn, a tenth of
# the database thread's time in a button-press profile; a text statement compiles once.
_UPSERT = Prepared(sa.text(
    "INSERT INTO kyr_counts (day, kind, area, dimension, value, n)"
    " VALUES (:day, :kind, :area, :dimension, :value, :n)"
    " ON CONFLICT (day, kind, area, dimension, value) DO UPDATE SET n = kyr_counts.n + excluded.n"
).bindparams(*(sa.bindparam(column.name, type_=column.type) for column in counts.c)))


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """n += 1 for each row, creating it at 1: one statement, race-free on both databases."""
    if connection.dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover
        raise RuntimeError(f"counters need SQLite or PostgreSQL, not {connection.dialect.name}")
    _UPSERT.executemany(connection, rows)


def rows_for(kind: str, day: dt.date, area: str = "", amount: int = 1,
             dimensions: Mapping[str, object] | None = None) -> list[dict[str, Any]]:
    """The rows one event adds to: its kind's total and one per known dimension."""
    if kind not in KINDS:
        raise ValueError(f"unknown counter kind {kind!r}")
    dimensions = dimensions or {}
    unknown = set(dimensions) - set(KINDS[kind])
    if unknown:
        raise ValueError(f"{kind} has no dimension(s) {', '.join(sorted(unknown))}")
    where = slug(area) if area else ""
    rows = [{"day": day, "kind": kind, "area": where, "dimension": "", "value": "", "n": amount}]
    rows += [{"day": day, "kind": kind, "area": where, "dimension": name, "value": slug(value),
              "n": amount} for name, value in sorted(dimensions.items()) if value is not None]
    return rows


class Counters:
    """The one writer of kyr_counts; readers use `totals` (the report builds on it)."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def record(self, kind: str, connection: Optional[Connection] = None, area: str = "",
               when: dt.datetime | None = None, **dimensions: object) -> None:
        """Count one event; inside the effect's transaction when `connection` is given."""
        rows = rows_for(kind, community_day(when or self.clock()), area, dimensions=dimensions)
        if connection is not None:
            _upsert(connection, rows)
            return
        with transaction(self.engine) as own:
            _upsert(own, rows)

    def record_all(self, events: Iterable[tuple[str, dict[str, object]]],
                   connection: Optional[Connection] = None) -> None:
        """Several events of one effect (a turn) in one statement: (kind, dimensions)."""
        rows = self.rows_of(events)
        if not rows:
            return
        if connection is not None:
            _upsert(connection, rows)
            return
        with transaction(self.engine) as own:
            _upsert(own, rows)

    def rows_of(self, events: Iterable[tuple[str, dict[str, object]]]) -> list[dict[str, Any]]:
        """The rows `record_all` adds to, computed without the database (a turn computes
        them on the loop and holds their write for its one transaction: `write_rows`).
        Raises ValueError for an unknown kind or dimension."""
        day = community_day(self.clock())
        rows = [row for kind, dimensions in events
                for row in rows_for(kind, day, str(dimensions.get("area") or ""),
                                    dimensions={k: v for k, v in dimensions.items() if k != "area"})]
        # Two events of one turn may add to the same cell: one row each, summed first.
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = (row["day"], row["kind"], row["area"], row["dimension"], row["value"])
            if key in merged:
                merged[key]["n"] += row["n"]
            else:
                merged[key] = dict(row)
        return list(merged.values())

    @staticmethod
    def write_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            _upsert(connection, rows)

    # ---- the effects that exist today ----

    def conversation_started(self, language: str, channel: str,
                             connection: Optional[Connection] = None) -> None:
        self.record(CONVERSATIONS, connection, language=language, channel=channel)

    def topic_entered(self, topic: str, language: str,
                      connection: Optional[Connection] = None) -> None:
        self.record(TOPICS, connection, topic=topic, language=language)

    def deletion_requested(self, channel: str, language: str,
                           connection: Optional[Connection] = None) -> None:
        self.record(DELETIONS, connection, channel=channel, language=language)

    def delivery_failed(self, channel: str, path: str,
                        connection: Optional[Connection] = None) -> None:
        self.record(DELIVERIES_FAILED, connection, channel=channel, path=path)

    def ticket_changed(self, connection: Connection, event: str, ticket: Any) -> None:
        """The ticket service's observer: called in the transaction of each state change,
        with the ticket as it now is (bot.handoff.tickets.Ticket)."""
        if event == TicketEvent.OPENED:
            self.record(TICKETS_OPENED, connection, topic=ticket.topic, language=ticket.language,
                        channel=ticket.channel, priority=ticket.priority)
            if ticket.priority == URGENT:  # `how` is in the report's words (bot.transparency.labels)
                self.record(TICKETS_URGENT, connection, topic=ticket.topic, how="opened")
        elif event == TicketEvent.ESCALATED:
            self.record(TICKETS_URGENT, connection, topic=ticket.topic, how="escalated")
        elif event == TicketEvent.CLAIMED and ticket.claimed_at is not None:
            self.record(TICKETS_CLAIMED, connection, priority=ticket.priority,
                        wait="after_hours" if ticket.after_hours else
                        wait_bucket(ticket.claimed_at - ticket.opened_at))
        elif event == TicketEvent.CLOSED:
            self.record(TICKETS_CLOSED, connection, disposition=disposition_label(ticket.disposition))

    # ---- the rapid-response network's effects (issue 15): areas come as codes ("c30")
    # and are counted by the names the transparency report knows ("south_lawndale") ----

    def report(self, area: str, report: str, outcome: str,
               connection: Optional[Connection] = None) -> None:
        """A report of enforcement activity, counted once its verification is decided."""
        if outcome not in REPORT_OUTCOMES:
            raise ValueError(f"report outcome must be one of {', '.join(REPORT_OUTCOMES)}")
        self.record(REPORTS, connection, area=counting_slug(area), report=report, outcome=outcome)

    def alert(self, area: str, language: str, connection: Optional[Connection] = None) -> None:
        self.record(ALERTS, connection, area=counting_slug(area), language=language)

    # ---- reading ----

    def rows(self, start: dt.date, end: dt.date, kinds: Iterable[str] = ()) -> list[Count]:
        """Every row with start <= day < end (of these kinds)."""
        query = sa.select(counts).where(counts.c.day >= start, counts.c.day < end)
        wanted = list(kinds)
        if wanted:
            query = query.where(counts.c.kind.in_(wanted))
        with self.engine.connect() as connection:
            found = connection.execute(query.order_by(counts.c.day)).mappings().all()
        return [Count(r["day"], r["kind"], r["area"], r["dimension"], r["value"], int(r["n"]))
                for r in found]

    def totals(self, kind: str, start: dt.date, end: dt.date,
               dimension: str = "") -> Mapping[str, int]:
        """{value: n} of one kind and dimension over the period (area summed)."""
        result: dict[str, int] = {}
        for row in self.rows(start, end, [kind]):
            if row.dimension == dimension:
                result[row.value] = result.get(row.value, 0) + row.n
        return result
