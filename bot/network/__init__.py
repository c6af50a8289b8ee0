"""The rapid-response network (issue 15): reports of enforcement activity and their
verification, alerts that two people agree on, and the residents subscribed to them.

Each state machine has one writer (ReportService, AlertService), as tickets have
(bot.handoff.tickets): a transition is one conditional UPDATE (WHERE state = what the
caller expects), so of two people acting at once exactly one wins and the other is told
why; every transition appends an event with its actor and time, and the newest event id
is the version the console watches. This package imports bot.core and bot.storage only:
the application layer (bot.app.services) composes it with the counters and residents.
"""

from __future__ import annotations

# Street text (an address refused in alerts, house numbers dropped from reports) is the core's.
from bot.core.streets import looks_like_address, without_house_numbers

__all__ = ["staff_actor", "staff_name", "same_person", "looks_like_address", "without_house_numbers"]

STAFF = "staff:"


def staff_name(actor: str) -> str:
    """"staff:ana" or "ana" -> "ana": callers may pass either."""
    name = actor.strip()
    return name[len(STAFF):] if name.startswith(STAFF) else name


def staff_actor(actor: str, error: type[Exception] = ValueError) -> str:
    """The actor as events record it: "staff:<name>" (bot.handoff.tickets does the same);
    `error` is raised when no name is given."""
    name = staff_name(actor)
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise error("a staff action needs the staff member's name (one word)")
    return STAFF + name


def same_person(one: str, other: str) -> bool:
    """Names are matched without regard to case (bot.handoff.staff)."""
    return staff_name(one).casefold() == staff_name(other).casefold()
