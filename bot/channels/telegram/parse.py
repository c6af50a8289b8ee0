"""Telegram updates -> what to do with them: a pure function, tested on recorded payloads.

Private chats only; edited messages and everything not asked for are ignored, so nothing
is answered twice; a group gets one pointer to a private chat and nothing more is read
there. A photo (the largest size within the limit), a voice note, an audio file or an
image sent as a file carries its file_id in the metadata (bot.core.media), for staff
while a ticket is open; other media are only named ("sticker").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bot.core import media as m
from bot.core.messages import InboundMessage

CHANNEL = "telegram"
MEDIA = ("photo", "voice", "audio", "video", "video_note", "sticker", "document", "animation",
         "location", "venue", "contact", "poll", "dice")


@dataclass(frozen=True)
class TelegramUpdate:
    update_id: str | None  # handled once: None when the update has no id (not Telegram's)
    chat_id: int | None = None
    inbound: InboundMessage | None = None  # a private message or tap to answer
    callback_id: str | None = None  # a tap to acknowledge first (stops the button's spinner)
    group: bool = False  # a group or channel chat: point to a private chat, once
    hint: str | None = None  # the sender's Telegram language


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _chat_id(chat: Mapping[str, Any]) -> int | None:
    value = chat.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _photo_size(sizes: Any, limit: int) -> Mapping[str, Any]:
    """The largest size Telegram declares within the limit; else the smallest (its fetch
    says it is too large)."""
    known = [s for s in (sizes if isinstance(sizes, list) else []) if isinstance(s, Mapping)
             and isinstance(s.get("file_id"), str)]
    if not known:
        return {}

    def size(s: Mapping[str, Any]) -> int:
        declared = m.declared_size(s.get("file_size"))
        if declared is not None:
            return declared
        width, height = s.get("width"), s.get("height")
        return width * height if isinstance(width, int) and isinstance(height, int) else 0

    fitting = [s for s in known if size(s) <= limit]
    return max(fitting, key=size) if fitting else min(known, key=size)


def media_of(message: Mapping[str, Any], limit: int = m.MAX_BYTES) -> tuple[str, dict[str, str]]:
    """What non-text a message carries: (kind, metadata with the file reference for the
    kinds staff may receive). Pure: the edge and the channel both read media this way."""
    found: Mapping[str, Any] = {}
    kind = next((k for k in MEDIA if message.get(k)), "other")
    mime = ""
    if kind == "photo":
        found = _photo_size(message.get("photo"), limit)
        mime = "image/jpeg"
    elif kind in (m.VOICE, m.AUDIO):
        found = _dict(message.get(kind))
        mime = str(found.get("mime_type") or "")
    elif kind == "document":
        document = _dict(message.get("document"))
        if str(document.get("mime_type") or "").startswith("image/"):  # a photo sent as a file
            kind, found, mime = m.PHOTO, document, str(document.get("mime_type"))
    ref = found.get("file_id")
    if not isinstance(ref, str) or not ref or len(ref) > 200:
        return kind, {}
    metadata = {m.REF: ref, m.MIME: mime[:60]}
    caption = message.get("caption")
    if isinstance(caption, str) and caption.strip():
        metadata[m.CAPTION] = caption[: m.MAX_CAPTION]
    size = m.declared_size(found.get("file_size"))
    if size is not None:
        metadata[m.SIZE] = str(size)
    return kind, metadata


def parse_update(data: Mapping[str, Any]) -> TelegramUpdate:
    """Never raises: an update it cannot read comes back with nothing to answer."""
    raw_id = data.get("update_id")
    update_id = str(raw_id) if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    if "callback_query" in data:
        return _callback(update_id, _dict(data.get("callback_query")))
    if "message" in data:
        return _message(update_id, _dict(data.get("message")))
    return TelegramUpdate(update_id)  # edited_message and the rest: never answered twice


def _callback(update_id: str | None, query: Mapping[str, Any]) -> TelegramUpdate:
    callback_id = str(query["id"]) if query.get("id") is not None else None
    chat = _dict(_dict(query.get("message")).get("chat"))
    user = _dict(query.get("from"))
    if chat.get("type") != "private" or user.get("id") is None or _chat_id(chat) is None:
        return TelegramUpdate(update_id, callback_id=callback_id)
    hint = user.get("language_code") if isinstance(user.get("language_code"), str) else None
    data = query.get("data")
    inbound = InboundMessage(CHANNEL, str(user["id"]), payload=data if isinstance(data, str) else "",
                             lang_hint=hint)
    return TelegramUpdate(update_id, _chat_id(chat), inbound, callback_id, hint=hint)


def _message(update_id: str | None, message: Mapping[str, Any]) -> TelegramUpdate:
    chat = _dict(message.get("chat"))
    user = _dict(message.get("from"))
    hint = user.get("language_code") if isinstance(user.get("language_code"), str) else None
    chat_id = _chat_id(chat)
    if chat_id is None:
        return TelegramUpdate(update_id)
    if chat.get("type") != "private":
        return TelegramUpdate(update_id, chat_id, group=True, hint=hint)
    if user.get("id") is None or user.get("is_bot"):
        return TelegramUpdate(update_id)
    text = message.get("text")
    if isinstance(text, str):
        inbound = InboundMessage(CHANNEL, str(user["id"]), text=text, lang_hint=hint)
    else:
        kind, metadata = media_of(message)
        inbound = InboundMessage(CHANNEL, str(user["id"]), media=kind, lang_hint=hint,
                                 metadata=metadata)
    return TelegramUpdate(update_id, chat_id, inbound, hint=hint)
