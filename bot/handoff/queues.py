"""The console's queues: each owns its query. Urgent first; then, for the staff member
looking, tickets in a language they speak; then the oldest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from bot.handoff.staff import Staff
from bot.handoff.tickets import CLAIMED, OPEN, URGENT, Ticket, TicketService, tickets


@dataclass(frozen=True)
class Filters:
    language: Optional[str] = None
    topic: Optional[str] = None
    priority: Optional[str] = None

    def apply(self, query: sa.sql.Select) -> sa.sql.Select:
        if self.language:
            query = query.where(tickets.c.language == self.language)
        if self.topic:
            query = query.where(tickets.c.topic == self.topic)
        if self.priority:
            query = query.where(tickets.c.priority == self.priority)
        return query


class Queue:
    name = ""
    title = ""
    supervisors_only = False

    def condition(self, staff: Staff) -> sa.sql.ColumnElement:
        raise NotImplementedError

    def tickets(self, service: TicketService, staff: Staff, filters: Filters = Filters(),
                limit: int = 200) -> list[Ticket]:
        speaks = sa.case((tickets.c.language.in_(staff.languages or ("",)), 0), else_=1)
        query = filters.apply(sa.select(tickets.c.id).where(self.condition(staff))).order_by(
            sa.case((tickets.c.priority == URGENT, 0), else_=1), speaks, tickets.c.opened_at,
            tickets.c.id).limit(limit)
        with service.engine.connect() as connection:
            ids = list(connection.execute(query).scalars())
        return service.tickets(ids)


class Unassigned(Queue):
    name, title = "unassigned", "Waiting"

    def condition(self, staff: Staff) -> sa.sql.ColumnElement:
        return tickets.c.status == OPEN


class Mine(Queue):
    name, title = "mine", "Mine"

    def condition(self, staff: Staff) -> sa.sql.ColumnElement:
        return sa.and_(tickets.c.status == CLAIMED, tickets.c.assignee == staff.name)


class AllOpen(Queue):
    name, title, supervisors_only = "all", "All open", True

    def condition(self, staff: Staff) -> sa.sql.ColumnElement:
        return tickets.c.status.in_((OPEN, CLAIMED))


QUEUES: dict[str, Queue] = {q.name: q for q in (Unassigned(), Mine(), AllOpen())}


def visible_queues(staff: Staff) -> list[Queue]:
    return [q for q in QUEUES.values() if staff.supervises or not q.supervisors_only]
