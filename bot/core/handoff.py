"""What a resident is told about their place with the hotline, and when the hotline is open.

The hours come from content/contacts.yml (`rapid_response`, per weekday, Chicago time), so
the deploying organisation changes them without a developer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.core.content import Content
from bot.core.messages import Button, OutboundMessage
from bot.core.render import Renderer

HOTLINE = "rapid_response"  # the contact whose hours are the staff console's
CHICAGO = ZoneInfo("America/Chicago")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STOP_PAYLOAD = "/stop"


def _minutes(value: str) -> int:
    hours, _, minutes = value.partition(":")
    return int(hours) * 60 + int(minutes)


def open_at(hours: dict[str, str], when: dt.datetime) -> bool:
    """Whether the hotline is staffed at `when` (any timezone; read in Chicago time).

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


def hotline_open(content: Content, when: dt.datetime) -> bool:
    contact = content.contacts.get(HOTLINE)
    if contact is None:  # no hours given: staff may answer at any time
        return True
    return open_at(contact.hours, when)


@dataclass(frozen=True)
class Place:
    """Where a waiting resident stands: 1 = next; `wait` from recent tickets, if any."""

    position: int
    wait: dt.timedelta | None
    open_now: bool
    already_waiting: bool = False


def wait_minutes(wait: dt.timedelta) -> int:
    """Whole minutes, rounded up, at least 1: 'about 0 minutes' helps nobody."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def hotline_speaks(content: Content, lang: str) -> bool:
    """Whether the hotline staff answer in `lang` (the `languages` of `rapid_response`)."""
    contact = content.contacts.get(HOTLINE)
    if contact is None or not contact.languages:
        return True  # nothing recorded: make no claim about the staff's languages
    return lang.split("_")[0] in {code.split("_")[0] for code in contact.languages}


def status_messages(renderer: Renderer, lang: str, place: Place) -> list[OutboundMessage]:
    """The place in line and the expected wait (or the hours, outside them), then what not
    to share, with a button to stop waiting. A resident writing in a language the staff do
    not speak is told they may be answered in the staff's languages, before anyone answers."""
    first: list[str] = []
    if place.already_waiting:
        first.append(renderer.text(lang, "handoff.already_waiting"))
    taken = place.already_waiting and place.position == 0  # a person has the chat: no line
    if place.open_now and not taken:
        line = renderer.text(lang, "handoff.queued", position=str(max(place.position, 1)))
        if place.wait is not None:
            line += " " + renderer.text_n(lang, "handoff.wait", wait_minutes(place.wait))
        else:
            line += " " + renderer.text(lang, "handoff.wait_unknown")
        first.append(line)
    elif not taken:
        first.append(renderer.text(lang, "handoff.after_hours"))
    stop = Button(renderer.label(lang, "handoff.stop"), STOP_PAYLOAD)
    privacy = renderer.text(lang, "handoff.privacy")
    if not hotline_speaks(renderer.content, lang):
        privacy = f"{renderer.text(lang, 'handoff.language_notice')}\n\n{privacy}"
    return [OutboundMessage("\n\n".join(first), lang=lang, flow="system", step="handoff_status"),
            OutboundMessage(privacy, (stop,), lang, "system", "handoff_privacy")]
