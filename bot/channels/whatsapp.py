"""WhatsApp through the Cloud API: signed webhooks in, Graph API messages out.

Nothing in a POST is parsed before its X-Hub-Signature-256 matches. Each message id is
handled once (hashed, in the database); statuses are counted and failures recorded, never
taken for user messages. Up to 3 choices are reply buttons, 4 to 10 a list, more become
numbered text (typed numbers are understood). Phone numbers are never logged; the number
needed to reach a resident again is stored encrypted (bot.storage.addresses).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any, Optional

import httpx

from bot.channels.base import Channel, ChannelContext, numbered_text, quiet_http_loggers, split_text
from bot.core.messages import InboundMessage, OutboundMessage
from bot.storage.addresses import record_delivery
from bot.storage.once import Once

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
DEFAULT_API = "https://graph.facebook.com/v21.0"
MAX_TEXT = 4096
MAX_BODY = 1024  # interactive message body
MAX_BUTTON, MAX_ROW, MAX_ROWS = 20, 24, 10
RETRY_DELAYS = (0.5, 1.0, 2.0)
OUTSIDE_WINDOW = 131047  # Meta: more than 24 hours since the resident last wrote


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_error_code(response: httpx.Response) -> Optional[int]:
    try:
        code = (response.json().get("error") or {}).get("code")
    except ValueError:  # not JSON (a proxy's error page, say)
        return None
    return int(code) if isinstance(code, int) else None


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


class WhatsAppChannel(Channel):
    name = CHANNEL

    def __init__(self, context: ChannelContext, token: str, phone_number_id: str, app_secret: str,
                 verify_token: str, api_base: Optional[str] = None) -> None:
        quiet_http_loggers()
        self.context = context
        self.token = token
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.api_base = (api_base or DEFAULT_API).rstrip("/")
        self.once = Once(context.db, CHANNEL)
        self.counters: dict[str, int] = {}
        self.http: Optional[httpx.AsyncClient] = None

    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=15.0)
        self.once.forget_old()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # ---- webhook ----

    def handshake(self, mode: Optional[str], token: Optional[str], challenge: Optional[str]) -> Optional[str]:
        """The challenge to echo when Meta's verification request carries our token."""
        if mode == "subscribe" and token is not None and challenge is not None and \
                hmac.compare_digest(token.encode(), self.verify_token.encode()):
            return challenge
        return None

    def verify(self, body: bytes, header: Optional[str]) -> bool:
        return header is not None and hmac.compare_digest(
            header.encode(), signature(self.app_secret, body).encode())

    async def process(self, body: dict[str, Any]) -> None:
        """Handle a verified webhook body; never raises."""
        for entry in body.get("entry") or [] if isinstance(body.get("entry"), list) else []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                for status in value.get("statuses") or []:
                    try:
                        self._status(status)
                    except Exception:
                        logger.exception("whatsapp status could not be recorded")
                for message in value.get("messages") or []:
                    # One failing message must not cost the others in the same body.
                    try:
                        if self.once.first_time(str(message.get("id"))):
                            await self._message(message)
                    except Exception:
                        logger.exception("whatsapp message of type %s could not be handled",
                                         str(message.get("type"))[:20])

    def _status(self, status: dict[str, Any]) -> None:
        state = str(status.get("status") or "unknown")
        self.count(f"whatsapp_status_{state}")
        if state == "failed":
            error = (status.get("errors") or [{}])[0]
            code = error.get("code")
            reason = ("outside the 24-hour window" if code == OUTSIDE_WINDOW
                      else str(error.get("title") or "failed"))
            resident = self.context.resident(CHANNEL, str(status.get("recipient_id")))
            record_delivery(self.context.db, CHANNEL, resident, "failed", code, reason)

    async def _message(self, message: dict[str, Any]) -> None:
        sender = str(message.get("from") or "")
        if not sender:
            return
        kind = message.get("type")
        if kind == "text":
            inbound = InboundMessage(CHANNEL, sender, text=str((message.get("text") or {}).get("body") or ""))
        elif kind == "interactive":
            interactive = message.get("interactive") or {}
            reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
            inbound = InboundMessage(CHANNEL, sender, payload=str(reply.get("id") or ""))
        elif kind == "button":  # a template's quick-reply button
            inbound = InboundMessage(CHANNEL, sender,
                                     payload=str((message.get("button") or {}).get("payload") or ""))
        else:  # image, audio, video, document, sticker, location, contacts, reaction, unsupported
            inbound = InboundMessage(CHANNEL, sender, media=str(kind or "unsupported"))
        # The number is kept (sealed) only while a ticket needs it: bot.app.residents keeps it then.
        for reply_message in await self.context.handle(inbound):
            await self.send(sender, reply_message)

    # ---- outbound ----

    def bodies(self, message: OutboundMessage) -> list[dict[str, Any]]:
        """The Graph API message objects for one outbound message, within WhatsApp's limits."""
        buttons = list(message.buttons)
        text = message.text
        interactive = 0 < len(buttons) <= MAX_ROWS
        lead = split_text(text, MAX_TEXT)
        if interactive and len(text) <= MAX_BODY:
            lead, body = [], text
        else:
            body = self.context.renderer.text(message.lang, "ui.choose")
        if buttons and not interactive:  # more than 10 choices: numbered text
            return [{"type": "text", "text": {"body": chunk}}
                    for chunk in split_text(numbered_text(message), MAX_TEXT)]
        out: list[dict[str, Any]] = [{"type": "text", "text": {"body": chunk}} for chunk in lead]
        if not buttons:
            return out
        if len(buttons) <= 3:
            action = {"buttons": [{"type": "reply", "reply": {"id": b.payload[:256],
                                                              "title": shorten(b.title, MAX_BUTTON)}}
                                  for b in buttons]}
            out.append({"type": "interactive", "interactive": {
                "type": "button", "body": {"text": body}, "action": action}})
        else:
            rows = [{"id": b.payload[:200], "title": shorten(b.title, MAX_ROW)} for b in buttons]
            label = shorten(self.context.renderer.label(message.lang, "ui.list_button"), MAX_BUTTON)
            out.append({"type": "interactive", "interactive": {
                "type": "list", "body": {"text": body},
                "action": {"button": label, "sections": [{"title": shorten(label, MAX_ROW), "rows": rows}]}}})
        return out

    async def send(self, recipient: str, message: OutboundMessage) -> Optional[str]:
        for body in self.bodies(message):
            sent, code, reason = await self._post({"messaging_product": "whatsapp",
                                                   "recipient_type": "individual",
                                                   "to": recipient, **body})
            if not sent:
                resident = self.context.resident(CHANNEL, recipient)
                record_delivery(self.context.db, CHANNEL, resident, "failed", code, reason)
                return reason
        return None

    async def _post(self, payload: dict[str, Any]) -> tuple[bool, Optional[int], str]:
        """POST with retries on 429 and 5xx (backoff), none on other 4xx.

        (sent, Meta's error code, reason for the record)."""
        assert self.http is not None, "start() the channel first"
        url = f"{self.api_base}/{self.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {self.token}"}
        for attempt, delay in enumerate((0.0,) + RETRY_DELAYS):
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await self.http.post(url, json=payload, headers=headers)
            except httpx.HTTPError as exc:
                logger.warning("whatsapp send attempt %d: %s", attempt + 1, type(exc).__name__)
                continue
            if response.status_code < 300:
                self.count("whatsapp_sent")
                return True, None, ""
            if response.status_code != 429 and response.status_code < 500:
                code = meta_error_code(response)
                logger.warning("whatsapp send rejected: HTTP %d, error %s", response.status_code, code)
                self.count("whatsapp_rejected")
                reason = ("outside the 24-hour window" if code == OUTSIDE_WINDOW
                          else f"rejected by WhatsApp (HTTP {response.status_code})")
                return False, code, reason
            logger.warning("whatsapp send attempt %d: HTTP %d", attempt + 1, response.status_code)
        self.count("whatsapp_failed")
        return False, None, "send failed after retries"
