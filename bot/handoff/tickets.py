"""The ticket service: the one writer of ticket state, recording who changed it and how.

A ticket is one period of human contact: open -> claimed -> closed (or open -> closed when
the resident stops waiting). A claim is one conditional UPDATE, so when two staff claim at
once exactly one row changes and the other is told. Every change appends an event.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage.db import metadata

OPEN, CLAIMED, CLOSED = "open", "claimed", "closed"
URGENT, NORMAL = "urgent", "normal"
URGENT_TOPICS = {"arrest_detention", "report_activity", "ice_at_door"}

tickets = sa.Table(
    "kyr_tickets", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resident", sa.String(80), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("language", sa.String(12), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("assignee", sa.String(80), nullable=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("disposition", sa.String(40), nullable=True),
)

ticket_events = sa.Table(
    "kyr_ticket_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # opened, claimed, transferred, closed, ...
    sa.Column("actor", sa.String(80), nullable=False),  # "resident", "bot", "staff:<name>"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


class TicketError(Exception):
    """A change the ticket's state does not allow; the message says why, for staff."""


class AlreadyClaimed(TicketError):
    pass


@dataclass(frozen=True)
class Ticket:
    id: int
    resident: str
    channel: str
    topic: str
    language: str
    priority: str
    status: str
    assignee: Optional[str]
    opened_at: dt.datetime
    claimed_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    disposition: Optional[str]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """SQLite returns naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(dt.timezone.utc)


class TicketService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[tickets, ticket_events])

    # ---- reading ----

    def get(self, ticket_id: int, connection: Optional[Connection] = None) -> Ticket:
        query = sa.select(tickets).where(tickets.c.id == ticket_id)
        if connection is None:
            with self.engine.connect() as own:
                row = own.execute(query).mappings().first()
        else:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise TicketError(f"ticket {ticket_id} does not exist")
        data = dict(row)
        for key in ("opened_at", "claimed_at", "closed_at"):
            data[key] = _aware(data[key])
        return Ticket(**data)

    def open_for(self, resident: str) -> Optional[Ticket]:
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(tickets.c.id).where(
                tickets.c.resident == resident, tickets.c.status != CLOSED)).scalar()
        return self.get(found) if found is not None else None

    def queue(self) -> list[Ticket]:
        """Waiting tickets, urgent first, then oldest."""
        with self.engine.connect() as connection:
            ids = connection.execute(sa.select(tickets.c.id).where(tickets.c.status == OPEN).order_by(
                sa.case((tickets.c.priority == URGENT, 0), else_=1), tickets.c.opened_at,
                tickets.c.id)).scalars().all()
        return [self.get(i) for i in ids]

    def position(self, ticket_id: int) -> int:
        """1 for the next ticket to be taken; 0 when it is not waiting."""
        ids = [t.id for t in self.queue()]
        return ids.index(ticket_id) + 1 if ticket_id in ids else 0

    def expected_wait(self, recent: int = 20) -> Optional[dt.timedelta]:
        """Median wait of the last claimed tickets; None before there is any."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(tickets.c.opened_at, tickets.c.claimed_at).where(
                tickets.c.claimed_at.is_not(None)).order_by(tickets.c.claimed_at.desc()).limit(recent)).all()
        waits = [(_utc(claimed) - _utc(opened)).total_seconds()
                 for opened, claimed in rows if opened is not None and claimed is not None]
        return dt.timedelta(seconds=statistics.median(waits)) if waits else None

    def events(self, ticket_id: int) -> list[tuple[str, str]]:
        with self.engine.connect() as connection:
            return [(k, a) for k, a in connection.execute(
                sa.select(ticket_events.c.kind, ticket_events.c.actor).where(
                    ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id))]

    # ---- the one writer ----

    def _event(self, connection: Connection, ticket_id: int, kind: str, actor: str) -> None:
        connection.execute(sa.insert(ticket_events).values(ticket_id=ticket_id, kind=kind,
                                                           actor=actor, at=_now()))

    def open(self, resident: str, channel: str, topic: str, language: str) -> Ticket:
        """Open a ticket, or return the resident's ticket that is still open."""
        existing = self.open_for(resident)
        if existing is not None:
            return existing
        priority = URGENT if topic in URGENT_TOPICS else NORMAL
        with self.engine.begin() as connection:
            ticket_id = connection.execute(sa.insert(tickets).values(
                resident=resident, channel=channel, topic=topic, language=language,
                priority=priority, status=OPEN, opened_at=_now())).inserted_primary_key[0]
            self._event(connection, ticket_id, "opened", "resident")
        return self.get(ticket_id)

    def claim(self, ticket_id: int, staff: str) -> Ticket:
        with self.engine.begin() as connection:
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, tickets.c.status == OPEN).values(
                status=CLAIMED, assignee=staff, claimed_at=_now())).rowcount
            if changed != 1:
                current = self.get(ticket_id, connection)
                if current.status == CLAIMED:
                    raise AlreadyClaimed(f"ticket {ticket_id} was claimed by {current.assignee}")
                raise TicketError(f"ticket {ticket_id} is {current.status}: it cannot be claimed")
            self._event(connection, ticket_id, "claimed", f"staff:{staff}")
        return self.get(ticket_id)

    def transfer(self, ticket_id: int, staff: str, to_staff: str) -> Ticket:
        with self.engine.begin() as connection:
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, tickets.c.status == CLAIMED,
                tickets.c.assignee == staff).values(assignee=to_staff)).rowcount
            if changed != 1:
                raise TicketError(f"ticket {ticket_id} is not claimed by {staff}")
            self._event(connection, ticket_id, "transferred", f"staff:{staff}")
        return self.get(ticket_id)

    def close(self, ticket_id: int, actor: str, disposition: str) -> Ticket:
        """Staff close their claimed ticket; the resident (actor 'resident') can stop waiting."""
        with self.engine.begin() as connection:
            condition = tickets.c.status != CLOSED
            if actor != "resident":
                condition = sa.and_(tickets.c.status == CLAIMED, tickets.c.assignee == actor)
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, condition).values(
                status=CLOSED, closed_at=_now(), disposition=disposition[:40])).rowcount
            if changed != 1:
                raise TicketError(f"ticket {ticket_id} cannot be closed by {actor}")
            self._event(connection, ticket_id, "closed",
                        "resident" if actor == "resident" else f"staff:{actor}")
        return self.get(ticket_id)
