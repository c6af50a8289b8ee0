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
import re
from typing import Any, Optional

import httpx

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.http import Answer, Poster, PostFailed, download, http_client
from bot.channels.base import (Channel, ChannelContext, Count, accept_json,
                               count_failed_delivery, numbered_text,
                               quiet_http_loggers, split_text)
from bot.channels.whatsapp.parse import (CHANNEL, OUTSIDE_WINDOW, Status, parse_message,
                                         parse_status, values)
from bot.channels.whatsapp.plugin import CAPABILITIES, LIMITS
from bot.core.delivery import SENT, Outcome, SendResult, refused, retry_later
from bot.core.media import MAX_BYTES, Fetched, Unavailable, check_size, declared_size
from bot.core.messages import OutboundMessage
from bot.storage.addresses import record_delivery
from bot.storage.offload import off_loop
from bot.storage.once import Once

logger = logging.getLogger(__name__)

DEFAULT_API = "https://graph.facebook.com/v21.0"
MAX_TEXT = LIMITS.text
MAX_BODY = 1024  # interactive message body
MAX_BUTTON, MAX_ROW, MAX_ROWS = LIMITS.button_title, 24, LIMITS.list_rows
RETRY_DELAYS = (0.5, 1.0, 2.0)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_error_code(answer: Answer) -> Optional[int]:
    data = answer.json()  # None when not JSON (a proxy's error page, say)
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return int(code) if isinstance(code, int) else None


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


MAX_PARAMETER = 200  # characters of one template parameter (an area's name, a time)
_SPACES = re.compile(r"\s+")


def template_parameter(value: object) -> str:
    """Meta refuses parameters with newlines, tabs or runs of spaces: one line, trimmed."""
    text = _SPACES.sub(" ", str(value)).strip()
    return shorten(text, MAX_PARAMETER) or "-"


def template_body(template: dict[str, Any]) -> dict[str, Any]:
    """The Cloud API's template message: type "template", the approved name, the language
    code, and the body's parameters as text components."""
    name, language = str(template["name"]), str(template["language"])
    if not name or not language:
        raise ValueError("a template needs a name and a language")
    values = [template_parameter(v) for v in template.get("parameters") or ()]
    names = list(template.get("names") or ())
    parameters: list[dict[str, Any]] = []
    for i, text in enumerate(values):
        parameter: dict[str, Any] = {"type": "text", "text": text}
        if i < len(names):
            parameter["parameter_name"] = str(names[i])
        parameters.append(parameter)
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": body}


class WhatsAppChannel(Channel):
    name = CHANNEL
    limits = LIMITS
    capabilities = CAPABILITIES

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
        self.http: Optional[httpx.AsyncClient] = None  # media and typing indicators
        self.poster = Poster()  # messages: the sends a burst is made of (bot.channels.http)

    async def start(self) -> None:
        self.http = http_client()  # bounded, with timeouts, reused
        await self.poster.start()
        self.once.forget_old()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        await self.poster.stop()

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

    def routes(self, count: Count) -> list[BaseRoute]:
        async def handshake(request: Request) -> Response:
            q = request.query_params
            challenge = self.handshake(q.get("hub.mode"), q.get("hub.verify_token"),
                                       q.get("hub.challenge"))
            if challenge is None:
                return PlainTextResponse("forbidden", status_code=403)
            return PlainTextResponse(challenge)

        async def webhook(request: Request) -> Response:
            body = await request.body()
            header = request.headers.get("X-Hub-Signature-256")
            if header is None:
                count("whatsapp_unsigned")
                return PlainTextResponse("unsigned", status_code=401)
            if not self.verify(body, header):  # before anything is parsed
                count("whatsapp_bad_signature")
                return PlainTextResponse("bad signature", status_code=403)
            return accept_json(body, self.process, count, "whatsapp_webhooks")

        return [Route("/webhooks/whatsapp", handshake, methods=["GET"]),
                Route("/webhooks/whatsapp", webhook, methods=["POST"])]

    async def process(self, body: dict[str, Any]) -> None:
        """Handle a verified webhook body; never raises."""
        for value in values(body):
            for status in value.get("statuses") or []:
                try:
                    await off_loop(self._status, parse_status(status))
                except Exception:
                    logger.exception("whatsapp status could not be recorded")
            for message in value.get("messages") or []:
                # One failing message must not cost the others in the same body.
                try:
                    if await off_loop(self.once.first_time, str(message.get("id"))):
                        await self._message(message)
                except Exception:
                    logger.exception("whatsapp message of type %s could not be handled",
                                     str(message.get("type"))[:20])

    def _status(self, status: Status) -> None:
        self.count(f"whatsapp_status_{status.state}")
        if status.state == "failed":
            resident = self.context.resident(CHANNEL, status.recipient)
            record_delivery(self.context.db, CHANNEL, resident, "failed", status.code, status.reason)
            count_failed_delivery(self.context, CHANNEL, "status")

    async def _message(self, message: dict[str, Any]) -> None:
        inbound = parse_message(message)
        if inbound is None:
            return
        # The number is kept (sealed) only while a ticket needs it: bot.app.residents keeps it then.
        for reply_message in await self.context.handle(inbound):
            await self.send(inbound.user, reply_message)

    # ---- media and typing ----

    async def fetch_media(self, ref: str, limit: int = MAX_BYTES) -> Fetched:
        """A resident's image or voice note: GET /{media-id} for a short-lived URL and its
        declared size, then the URL itself, both with the bearer token (Meta's CDN wants
        it). Raises TooLarge or Unavailable; never logs the URL."""
        if self.http is None:
            raise RuntimeError("start() the WhatsApp channel before fetching media")
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = await self.http.get(f"{self.api_base}/{ref}", headers=headers,
                                           params={"phone_number_id": self.phone_number_id})
        except httpx.HTTPError as exc:
            raise Unavailable(f"WhatsApp media lookup failed ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise Unavailable(f"WhatsApp media lookup answered HTTP {response.status_code}")
        try:
            info = response.json()
        except ValueError:
            info = None
        url = info.get("url") if isinstance(info, dict) else None
        # The token goes to this URL too: only over TLS (plain http only for a local test API).
        schemes = ("https://",) if self.api_base.startswith("https://") else ("https://", "http://")
        if not isinstance(url, str) or not url.startswith(schemes):
            raise Unavailable("WhatsApp gave no media URL")
        check_size(declared_size(info.get("file_size")), limit)
        data = await download(self.http, url, limit, headers)
        return Fetched(data, str(info.get("mime_type") or "")[:60])

    async def typing(self, recipient: str, message_id: Optional[str] = None) -> bool:
        """"typing…" under the resident's last message for up to 25 s (or until a reply):
        Meta sends it with a read receipt of that message, so it needs its id."""
        if not message_id or self.http is None:
            return False
        try:
            response = await self.http.post(
                f"{self.api_base}/{self.phone_number_id}/messages",
                json={"messaging_product": "whatsapp", "status": "read", "message_id": message_id,
                      "typing_indicator": {"type": "text"}},
                headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            logger.info("whatsapp typing indicator failed (%s)", type(exc).__name__)
            return False
        return response.status_code < 300

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
        if len(buttons) <= LIMITS.buttons:
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

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        for body in self.bodies(message):
            result = await self._post_recorded(recipient, body)
            if not result.sent:
                return result
        return SENT

    async def send_template(self, recipient: str, template: dict[str, Any]) -> SendResult:
        """An approved message template: the only way to reach a resident outside the
        24-hour window (alerts to subscribers). `template` is {"name", "language" (Meta's
        code of the approved translation), "parameters" (the body's {{1}}, {{2}}, ... in
        order), optionally "names" (for templates made with named parameters)}."""
        try:
            body = template_body(template)
        except (KeyError, TypeError, ValueError):
            return refused("unreadable template item")
        return await self._post_recorded(recipient, body)

    async def _post_recorded(self, recipient: str, body: dict[str, Any]) -> SendResult:
        result, code = await self._post({"messaging_product": "whatsapp",
                                         "recipient_type": "individual",
                                         "to": recipient, **body})
        if not result.sent:
            resident = self.context.resident(CHANNEL, recipient)
            await off_loop(record_delivery, self.context.db, CHANNEL, resident, "failed", code,
                           result.reason)
            if result.outcome is Outcome.REFUSED:  # a retry may still get through
                await off_loop(count_failed_delivery, self.context, CHANNEL, "send")
        return result

    async def _post(self, payload: dict[str, Any]) -> tuple[SendResult, Optional[int]]:
        """POST with retries on 429 and 5xx (backoff), none on other 4xx.

        (what came of it, Meta's error code)."""
        if self.poster.session is None:
            raise RuntimeError("start() the WhatsApp channel before sending")
        url = f"{self.api_base}/{self.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {self.token}"}
        for attempt, delay in enumerate((0.0,) + RETRY_DELAYS):
            if delay:
                await asyncio.sleep(delay)
            try:
                answer = await self.poster.post_json(url, payload, headers)
            except PostFailed as exc:
                logger.warning("whatsapp send attempt %d: %s", attempt + 1, exc)
                continue
            if answer.status < 300:
                self.count("whatsapp_sent")
                return SENT, None
            if answer.status != 429 and answer.status < 500:
                code = meta_error_code(answer)
                logger.warning("whatsapp send rejected: HTTP %d, error %s", answer.status, code)
                self.count("whatsapp_rejected")
                reason = ("outside the 24-hour window" if code == OUTSIDE_WINDOW
                          else f"rejected by WhatsApp (HTTP {answer.status})")
                return refused(reason), code
            logger.warning("whatsapp send attempt %d: HTTP %d", attempt + 1, answer.status)
        self.count("whatsapp_failed")
        return retry_later("send failed after retries"), None
