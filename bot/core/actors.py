"""Who did something, as the event logs and transcripts record it: RESIDENT, BOT or
"staff:<name>".

One module builds and reads these words, so that a stored actor means the same in the ticket
log, the network's logs and the console, and no module parses the prefix its own way.
"""

from __future__ import annotations

# No staff account may have either name (bot.handoff.staff refuses them): the ticket
# service reads the actor RESIDENT as the resident stopping their wait.
RESIDENT = "resident"  # the person the ticket or report is about
BOT = "bot"  # the system: receipts, delivery marks, an alert withdrawn on its own
STAFF = "staff:"
MAX_NAME = 64  # "staff:<name>" fits the 80-character actor columns


def staff(name: str) -> str:
    """The actor for a staff member known by their account name."""
    return STAFF + name


def is_staff(actor: str) -> bool:
    return actor.startswith(STAFF)


def staff_name(actor: str) -> str:
    """"staff:ana" or "ana" -> "ana": callers may pass either; a system actor stays as it is."""
    name = actor.strip()
    return name[len(STAFF):] if name.startswith(STAFF) else name


def staff_actor(actor: str, error: type[Exception] = ValueError) -> str:
    """The actor, checked: a name typed in a form or given by a caller, with or without
    "staff:"; `error` is raised when no name (one word) is given."""
    name = staff_name(actor)
    if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
        raise error("a staff action needs the staff member's name (one word)")
    return staff(name)


def same_person(one: str, other: str) -> bool:
    """Names are matched without regard to case (bot.handoff.staff)."""
    return staff_name(one).casefold() == staff_name(other).casefold()
