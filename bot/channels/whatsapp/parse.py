"""WhatsApp Cloud API webhook bodies -> messages and statuses: pure, tested on recorded payloads.

Nothing here runs before the body's signature matched (bot.channels.whatsapp.channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from bot.core import media as m
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


def media_of(message: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """What non-text a message carries: (kind, metadata). An image, or audio (a voice note
    when `voice` is true), carries its media id, which the Graph API resolves to a URL.
    The message id goes along for every kind: a typing indicator names it. Pure: the edge
    and the channel both read media this way."""
    kind = str(message.get("type") or "unsupported")[:20]
    metadata: dict[str, str] = {}
    message_id = message.get("id")
    if isinstance(message_id, str) and 0 < len(message_id) <= 200:
        metadata[m.MESSAGE_ID] = message_id
    body = _dict(message.get(kind))
    if kind == "image":
        kind = m.PHOTO
    elif kind == "audio":
        kind = m.VOICE if body.get("voice") is True else m.AUDIO
    else:
        return kind, metadata
    ref = body.get("id")
    if isinstance(ref, (str, int)) and not isinstance(ref, bool) and 0 < len(str(ref)) <= 200:
        metadata[m.REF] = str(ref)
        metadata[m.MIME] = str(body.get("mime_type") or "")[:60]
        caption = body.get("caption")
        if isinstance(caption, str) and caption.strip():
            metadata[m.CAPTION] = caption[: m.MAX_CAPTION]
    return kind, metadata


def parse_message(message: Mapping[str, Any]) -> InboundMessage | None:
    """One message object -> the InboundMessage; None when it names no sender."""
    sender = str(message.get("from") or "")
    if not sender:
        return None
    kind = message.get("type")
    message_id = message.get("id")
    # The id names the message a typing indicator answers (kept only while a ticket is open).
    ids = {m.MESSAGE_ID: message_id} if isinstance(message_id, str) and \
        0 < len(message_id) <= 200 else {}
    if kind == "text":
        return InboundMessage(CHANNEL, sender, text=str(_dict(message.get("text")).get("body") or ""),
                              metadata=ids)
    if kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get("button_reply") or interactive.get("list_reply"))
        return InboundMessage(CHANNEL, sender, payload=str(reply.get("id") or ""), metadata=ids)
    if kind == "button":  # a template's quick-reply button
        return InboundMessage(CHANNEL, sender,
                              payload=str(_dict(message.get("button")).get("payload") or ""),
                              metadata=ids)
    # image, audio (photo, voice), video, document, sticker, location, contacts, reaction...
    media, metadata = media_of(message)
    return InboundMessage(CHANNEL, sender, media=media, metadata=metadata)


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
