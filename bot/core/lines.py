"""Which phone line is open right now: the one number an urgent answer gives.

At the worst moment a resident needs one number that answers now, not a list with
"(call to check the hours)". Contacts declare machine-readable hours and languages in
content/contacts.yml; a line counts only when it is confirmed (read on the organisation's
own published page, recorded as `confirmed: {page, date}` in contacts.yml, or confirmed by
the deploying organisation the same way): an unconfirmed number is left out of urgent answers, and
`kyr content check` says so.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.core.content import Content, Contact

CHICAGO = ZoneInfo("America/Chicago")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
URGENT_TAG = "hotline"  # contacts that may be named in an urgent answer, in file order


def _minutes(value: str) -> int:
    hours, _, minutes = value.partition(":")
    return int(hours) * 60 + int(minutes)


def open_at(hours: dict[str, str], when: dt.datetime) -> bool:
    """Whether a line with these hours answers at `when` (any timezone; read in Chicago time).

    A span ending before it starts ("20:00-02:00") runs past midnight; its early-morning
    part counts on the next day.
    """
    local = when.astimezone(CHICAGO)
    now = local.hour * 60 + local.minute
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    for day, earlier in ((today, False), (yesterday, True)):
        value = hours.get(day, "closed")
        if value == "24h":
            if not earlier:
                return True
            continue
        if value == "closed":
            continue
        start, _, end = value.partition("-")
        a, b = _minutes(start), _minutes(end)
        if not earlier and (a <= now < b or (b <= a and now >= a)):
            return True
        if earlier and b <= a and now < b:
            return True
    return False


def confirmed(contact: Contact) -> bool:
    """Confirmed, with the page it was read on and the date: safe to name in an emergency."""
    return contact.status == "confirmed" and bool(contact.confirmed_page) \
        and contact.confirmed_date is not None


def urgent_lines(content: Content) -> list[Contact]:
    """The lines an urgent answer may name, in the order of contacts.yml."""
    return [c for c in content.contacts.values()
            if URGENT_TAG in c.tags and c.phone and confirmed(c)]


def line_open_now(content: Content, when: dt.datetime) -> Contact | None:
    """The first confirmed line open at `when` (the 24-hour line when the others close)."""
    return next((c for c in urgent_lines(content) if open_at(c.hours, when)), None)
