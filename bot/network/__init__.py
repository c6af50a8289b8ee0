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

import re

__all__ = ["staff_actor", "staff_name", "same_person", "looks_like_address", "without_house_numbers"]

STAFF = "staff:"

# A house number and a street: "1234 W 18th St", "5 N Main Avenue". Alerts must never hold
# one, and reports keep cross streets only ("18th & Blue Island").
_STREET = (r"(?:st|street|ave|av|avenue|blvd|boulevard|rd|road|dr|drive|ct|court|pl|place|"
           r"way|ln|lane|pkwy|parkway|ter|terrace|hwy|highway|calle|avenida)")
_ADDRESS = re.compile(r"\b\d{1,6}[a-z]?\s+(?:[nsew]\.?\s+)?(?:\w+\.?\s+){0,3}" + _STREET + r"\b\.?",
                      re.IGNORECASE)
# A number of three or more digits standing alone is a house number on Chicago's grid;
# street names keep theirs ("18th", "Route 66" stays).
_HOUSE_NUMBER = re.compile(r"(?<![\w#])\d{3,6}[a-z]?\b(?!\s*(?:th|st|nd|rd)\b)", re.IGNORECASE)


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


def looks_like_address(text: str) -> bool:
    """Whether `text` holds what reads as a street address (a house number and a street)."""
    return bool(_ADDRESS.search(text))


def without_house_numbers(text: str) -> str:
    """Cross streets as kept: standalone house numbers dropped ("1234 W 18th St & Blue
    Island" -> "W 18th St & Blue Island"), so a report never keeps a home address."""
    return re.sub(r"\s{2,}", " ", _HOUSE_NUMBER.sub("", text)).strip(" ,;")
