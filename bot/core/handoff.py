"""What a resident is told about their place with the hotline, and when the hotline is open.

The hours come from content/contacts.yml (`rapid_response`, per weekday, Chicago time), so
the deploying organisation changes them without a developer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

from bot.core.content import Content
from bot.core.languages import NATIVE_NAMES
from bot.core.lines import CHICAGO, WEEKDAYS, open_at  # noqa: F401  (where they used to be)
from bot.core.messages import Button, OutboundMessage
from bot.core.render import Renderer

HOTLINE = "rapid_response"  # the contact whose hours are the staff console's
STOP_PAYLOAD = "/stop"


def hotline_open(content: Content, when: dt.datetime) -> bool:
    contact = content.contacts.get(HOTLINE)
    if contact is None:  # no hours given: staff may answer at any time
        return True
    return open_at(contact.hours, when)


@dataclass(frozen=True)
class Place:
    """Where a waiting resident stands: 1 = next; `wait` from recent tickets, if any.

    `open_now` is whether someone can answer now: staff on shift in the console when that
    is known, the hotline's hours from content only as the fallback. `answers_in` are the
    languages they answer in (of the staff on shift, or the hotline's in contacts.yml)."""

    position: int
    wait: dt.timedelta | None
    open_now: bool
    already_waiting: bool = False
    answers_in: tuple[str, ...] = ()


def hotline_languages(content: Content) -> tuple[str, ...]:
    contact = content.contacts.get(HOTLINE)
    return contact.languages if contact is not None else ()


def wait_minutes(wait: dt.timedelta) -> int:
    """Whole minutes, rounded up, at least 1: 'about 0 minutes' helps nobody."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def _languages_line(renderer: Renderer, lang: str, place: Place, always: bool) -> str | None:
    """Which languages the hotline answers in; when not the resident's, that they can still
    write in theirs (staff see every message)."""
    if not place.answers_in or (lang in place.answers_in and not always):
        return None
    names = ", ".join(NATIVE_NAMES.get(code, code) for code in place.answers_in)
    if lang in place.answers_in:
        return renderer.text(lang, "handoff.languages", languages=names)
    return renderer.text(lang, "handoff.languages_other", languages=names,
                         language=NATIVE_NAMES.get(lang, lang))


def _place_line(renderer: Renderer, lang: str, place: Place) -> str:
    line = renderer.text(lang, "handoff.queued", position=str(max(place.position, 1)))
    if place.wait is not None:
        return line + " " + renderer.text_n(lang, "handoff.wait", wait_minutes(place.wait))
    return line + " " + renderer.text(lang, "handoff.wait_unknown")


def status_messages(renderer: Renderer, lang: str, place: Place) -> list[OutboundMessage]:
    """The place in line and the expected wait (or the hours, outside them), then what not
    to share, with a button to stop waiting. A resident writing in a language the staff do
    not speak is told they may be answered in the staff's languages, before anyone answers."""
    first: list[str] = []
    if place.already_waiting:
        first.append(renderer.text(lang, "handoff.already_waiting"))
    taken = place.already_waiting and place.position == 0  # a person has the chat: no line
    if place.open_now and not taken:
        first.append(_place_line(renderer, lang, place))
    elif not taken:
        first.append(renderer.text(lang, "handoff.after_hours"))
    languages = _languages_line(renderer, lang, place, always=not taken)
    if languages:
        first[-1] += " " + languages
    stop = Button(renderer.label(lang, "handoff.stop"), STOP_PAYLOAD)
    return [OutboundMessage("\n\n".join(first), lang=lang, flow="system", step="handoff_status"),
            OutboundMessage(renderer.text(lang, "handoff.privacy"), (stop,), lang, "system",
                            "handoff_privacy")]


def urgent_status(renderer: Renderer, lang: str, place: Place) -> OutboundMessage:
    """For someone in danger: one short message (the place, or that the team reads this
    when it starts; the languages if not theirs; what not to write). Its "Stop waiting"
    button goes under the question (arrange_urgent)."""
    parts = [renderer.text(lang, "handoff.urgent_queued", position=str(max(place.position, 1)))
             if place.open_now else renderer.text(lang, "handoff.urgent_after_hours")]
    languages = _languages_line(renderer, lang, place, always=False)
    if languages:
        parts.append(languages)
    parts.append(renderer.text(lang, "handoff.privacy_short"))
    return OutboundMessage(" ".join(parts), (), lang, "system", "handoff_urgent")


def arrange_urgent(replies: list[OutboundMessage], asked: OutboundMessage,
                   status: OutboundMessage, stop: Button) -> list[OutboundMessage]:
    """At most two messages before the question: the urgent answer, then the status; the
    question last, its buttons at the bottom of the screen and "Stop waiting" after them
    (numbered last, so "1" is still the question's first answer everywhere). When the
    answer itself carries the question's buttons, they move under the status."""
    at = next(i for i, r in enumerate(replies) if r is asked)
    question = next((i for i in range(at + 1, len(replies)) if replies[i].buttons), None)
    if question is not None:
        asking = replace(replies[question], buttons=replies[question].buttons + (stop,))
        return replies[:question] + [status, asking] + replies[question + 1:]
    moved = replace(status, buttons=asked.buttons + (stop,))
    return replies[:at] + [replace(asked, buttons=())] + replies[at + 1:] + [moved]
