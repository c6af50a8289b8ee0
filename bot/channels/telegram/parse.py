"""Telegram updates -> what to do with them: a pure function, tested on recorded payloads.

Private chats only; edited messages and everything not asked for are ignored, so nothing
is answered twice; media become "media" (the bot reads text only); a group gets one
pointer to a private chat and nothing more is read there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

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
        kind = next((k for k in MEDIA if message.get(k)), "other")
        inbound = InboundMessage(CHANNEL, str(user["id"]), media=kind, lang_hint=hint)
    return TelegramUpdate(update_id, chat_id, inbound, hint=hint)
