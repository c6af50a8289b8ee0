"""What a channel declares about its platform, and what a send came to: pure data.

The application reads these (the relay asks whether a reply may still go out, and
records why not) without importing any channel.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The platform's limits a message must fit (rich output degrades to text past them)."""

    text: int = 4096  # characters of one message
    buttons: int = 100  # choices shown as buttons, else numbered text
    button_title: int = 64  # characters of a button's title
    payload_bytes: int = 4096  # bytes of a button's payload (Telegram: callback_data 64)
    list_rows: int = 0  # rows of a list picker (0: the platform has none)


@dataclass(frozen=True)
class Capabilities:
    """What the platform lets a business do."""

    reply_window: dt.timedelta | None = None  # free text only this long after the resident wrote
    window_reason: str = "outside the platform's reply window"  # for staff, when it has passed
    templates: bool = False  # approved templates reach a resident outside that window
    typing_indicator: bool = False


class Outcome(enum.Enum):
    SENT = "sent"
    REFUSED = "refused"  # the platform said no: retrying will not help (the reason says why)
    RETRY = "retry"  # the platform or the network failed for now: try again later


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str | None = None  # in words staff can act on ("outside the 24-hour window")

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


SENT = SendResult(Outcome.SENT)


def refused(reason: str) -> SendResult:
    return SendResult(Outcome.REFUSED, reason)


def retry_later(reason: str) -> SendResult:
    return SendResult(Outcome.RETRY, reason)


def outside_window(capabilities: Capabilities, last_inbound: dt.datetime | None,
                   now: dt.datetime) -> bool:
    """Whether free text may no longer reach a resident who last wrote at `last_inbound`."""
    window = capabilities.reply_window
    return window is not None and last_inbound is not None and now - last_inbound > window


CONNECTIONS = 16  # sends in flight per channel and worker: the outbox sender's concurrency
