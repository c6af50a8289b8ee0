"""The edge: what a webhook request must pass before anything in it is believed or stored.

In order, each step before the next costs anything:
1. the secret header (Telegram) or the presence and form of the signature (WhatsApp) is
   checked from the headers alone; a missing one is refused before the body is read;
2. a body over MAX_BODY gets 413 unread (by Content-Length) or as soon as it passes the
   limit while streaming, so a 500 MB upload costs at most MAX_BODY of memory;
3. the HMAC of a large body runs in a thread, not on the event loop;
4. nesting deeper than MAX_DEPTH is refused before json.loads (deep JSON made Python's
   parser recurse into a 500); a body that is not a JSON object is 400;
5. the platform's structure is read piece by piece: a malformed entry, change or message
   is counted and skipped (logged by kind only, never with a traceback or content) and
   the good messages beside it are stored;
6. the messages are written to the inbox (bot.app.inbox) and only then does the platform
   get 200. A redelivered id is recognised there; a message older than the configured age
   (by the platform's own timestamp: a replay) is recorded and not answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from starlette.requests import Request

from bot.app.inbox import Envelope
from bot.channels.telegram.parse import media_of as telegram_media
from bot.channels.whatsapp.parse import media_of as whatsapp_media
from bot.core.media import MESSAGE_ID

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Meta and Telegram bodies are a few KB; batches stay far below
MAX_DEPTH = 32  # the deepest real payload here is 7
OFF_LOOP = 64 * 1024  # bodies above this are hashed in a thread
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class Refused(Exception):
    """A request the edge answers itself: status code and a short plain text."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Parsed:
    envelopes: list[Envelope] = field(default_factory=list)
    skipped: int = 0  # malformed pieces, each counted, none fatal


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, or Refused(413) without reading more than `limit` bytes of it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise Refused(413, "too large")
        except ValueError:
            raise Refused(400, "bad content-length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "too large")
        chunks.append(chunk)
    return b"".join(chunks)


def signature_form_ok(header: str | None) -> bool:
    """WhatsApp's X-Hub-Signature-256 is "sha256=" and 64 hex digits; anything else: 401."""
    return header is not None and _SIGNATURE.fullmatch(header) is not None


async def hmac_matches(secret: str, body: bytes, header: str) -> bool:
    def check() -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), header.encode())

    return await asyncio.to_thread(check) if len(body) > OFF_LOOP else check()


def nesting_depth(body: bytes) -> int:
    """How deep brackets nest, strings ignored: measured before any JSON parsing."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


async def parse_object(body: bytes) -> dict[str, Any]:
    def parse() -> dict[str, Any]:
        if nesting_depth(body) > MAX_DEPTH:
            raise Refused(400, "too deeply nested")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused(400, "not JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "not a JSON object")
        return data

    return await asyncio.to_thread(parse) if len(body) > OFF_LOOP else parse()


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The objects of a list, skipping everything else (a malformed piece is not fatal)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _epoch(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> str | None:
    """A platform id: a non-empty string or an integer, at most 200 characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if 0 < len(text) <= 200 else None


def _piecewise(parsed: Parsed, pieces: Iterator[dict[str, Any]],
               read: Callable[[dict[str, Any]], Envelope | None], kind: str) -> None:
    for piece in pieces:
        try:
            envelope = read(piece)
        except (TypeError, ValueError, KeyError, AttributeError):
            envelope = None
        if envelope is None:
            parsed.skipped += 1
            logger.warning("a malformed %s was skipped", kind)  # no content, no traceback
        else:
            parsed.envelopes.append(envelope)


# ---- WhatsApp Cloud API ----

def whatsapp_message(message: dict[str, Any]) -> Envelope | None:
    sender, message_id = _id(message.get("from")), _id(message.get("id"))
    if sender is None or message_id is None:
        return None
    kind = message.get("type")
    # The message id, for a typing indicator while a ticket is open (sealed in the inbox).
    body: dict[str, Any] = {"user": sender, "to": sender, "meta": {MESSAGE_ID: message_id}}
    if kind == "text":
        text = (message.get("text") or {}).get("body")
        if not isinstance(text, str):
            return None
        body["text"] = text
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        body["payload"] = str(reply.get("id") or "")[:256]
    elif kind == "button":  # a template's quick-reply button
        body["payload"] = str((message.get("button") or {}).get("payload") or "")[:256]
    else:  # image, audio, video, document, sticker, location, contacts, reaction, unsupported
        body["media"], body["meta"] = whatsapp_media(message)  # a photo or voice note: its id
    return Envelope("whatsapp", message_id, sender, "message", body,
                    _epoch(message.get("timestamp")))


def whatsapp_status(status: dict[str, Any]) -> Envelope | None:
    recipient, status_id = _id(status.get("recipient_id")), _id(status.get("id"))
    state = status.get("status")
    if recipient is None or status_id is None or not isinstance(state, str):
        return None
    error = next(_dicts(status.get("errors")), {})
    code = error.get("code")
    body = {"status": state[:20], "code": code if isinstance(code, int) else None,
            "title": str(error.get("title") or "")[:100]}
    return Envelope("whatsapp", f"status:{status_id}:{state[:20]}", recipient, "status", body,
                    _epoch(status.get("timestamp")))


def parse_whatsapp(data: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    for entry in _dicts(data.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                parsed.skipped += 1
                continue
            _piecewise(parsed, _dicts(value.get("statuses")), whatsapp_status, "status")
            _piecewise(parsed, _dicts(value.get("messages")), whatsapp_message, "message")
    return parsed


# ---- Telegram Bot API ----

def telegram_update(update: dict[str, Any]) -> Envelope | None:
    update_id = _id(update.get("update_id"))
    if update_id is None:
        return None
    query = update.get("callback_query")
    if isinstance(query, dict):
        user = query.get("from") or {}
        chat = (query.get("message") or {}).get("chat") or {}
        user_id, chat_id = _id(user.get("id")), _id(chat.get("id"))
        if user_id is None or chat_id is None or chat.get("type") != "private":
            return None
        tap = {"user": user_id, "to": chat_id, "payload": str(query.get("data") or "")[:64],
               "hint": _hint(user), "callback": _id(query.get("id"))}
        return Envelope("telegram", update_id, user_id, "message", tap)  # no date: a tap
    message = update.get("message")
    if not isinstance(message, dict):  # edited_message and the rest: never answered twice
        return Envelope("telegram", update_id, "-", "ignored", {})
    chat = message.get("chat") or {}
    chat_id = _id(chat.get("id"))
    user = message.get("from") or {}
    if chat_id is None:
        return None
    if chat.get("type") != "private":  # a group: answered once, pointing to a private chat
        return Envelope("telegram", f"group:{chat_id}", f"group:{chat_id}", "group",
                        {"to": chat_id, "hint": _hint(user)}, _epoch(message.get("date")))
    user_id = _id(user.get("id"))
    if user_id is None or user.get("is_bot"):
        return Envelope("telegram", update_id, "-", "ignored", {})
    body: dict[str, Any] = {"user": user_id, "to": chat_id, "hint": _hint(user)}
    if isinstance(message.get("text"), str):
        body["text"] = message["text"]
    else:  # a photo or voice note carries its file_id, for staff while a ticket is open
        body["media"], body["meta"] = telegram_media(message)
    return Envelope("telegram", update_id, user_id, "message", body, _epoch(message.get("date")))


def _hint(user: Any) -> str | None:
    code = user.get("language_code") if isinstance(user, dict) else None
    return code[:20] if isinstance(code, str) else None


def parse_telegram(data: dict[str, Any]) -> Parsed:
    parsed = Parsed()
    _piecewise(parsed, iter([data]), telegram_update, "update")
    return parsed
