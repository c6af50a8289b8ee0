"""WhatsApp Cloud API webhook bodies -> messages and statuses: pure, tested on recorded payloads.

Nothing here runs before the body's signature matched (bot.channels.whatsapp.channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from bot.core.messages import InboundMessage

CHANNEL = "whatsapp"
OUTSIDE_WINDOW = 131047  # Meta: more than 24 hours since the resident last wrote


@dataclass(frozen=True)
class Status:
    state: str  # sent, delivered, read, failed, ...
    recipient: str
    code: int | None = None
    reason: str | None = None  # for a failure, in words for staff


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def values(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for entry in _list(body.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            yield _dict(_dict(change).get("value"))


def parse_message(message: Mapping[str, Any]) -> InboundMessage | None:
    """One message object -> the InboundMessage; None when it names no sender."""
    sender = str(message.get("from") or "")
    if not sender:
        return None
    kind = message.get("type")
    if kind == "text":
        return InboundMessage(CHANNEL, sender, text=str(_dict(message.get("text")).get("body") or ""))
    if kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get("button_reply") or interactive.get("list_reply"))
        return InboundMessage(CHANNEL, sender, payload=str(reply.get("id") or ""))
    if kind == "button":  # a template's quick-reply button
        return InboundMessage(CHANNEL, sender,
                              payload=str(_dict(message.get("button")).get("payload") or ""))
    # image, audio, video, document, sticker, location, contacts, reaction, unsupported
    return InboundMessage(CHANNEL, sender, media=str(kind or "unsupported"))


def parse_status(status: Mapping[str, Any]) -> Status:
    state = str(status.get("status") or "unknown")
    recipient = str(status.get("recipient_id"))
    if state != "failed":
        return Status(state, recipient)
    error = _dict((_list(status.get("errors")) or [{}])[0])
    code = error.get("code") if isinstance(error.get("code"), int) else None
    reason = ("outside the 24-hour window" if code == OUTSIDE_WINDOW
              else str(error.get("title") or "failed"))
    return Status(state, recipient, code, reason)
