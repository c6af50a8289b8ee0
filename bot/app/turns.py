"""What an inbox row becomes: an engine turn whose replies are outbox drafts, and how a
draft reaches a channel. The only place that knows both the queues and the engine."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import httpx

from bot.app.inbox import Taken
from bot.app.relay import Outlet
from bot.app.outbox import Deliver, Delivery, Draft, message_item, message_of
from bot.core.delivery import Outcome
from bot.core.languages import language_from_hint
from bot.core.messages import InboundMessage, OutboundMessage
from bot.storage.addresses import record_delivery
from bot.storage.offload import off_loop

logger = logging.getLogger(__name__)

OUTSIDE_WINDOW = 131047  # Meta: more than 24 hours since the resident last wrote


class EngineTurns:
    """`services` is bot.app.services.Services: the conversation service runs the turn."""

    def __init__(self, services: Any, channels: Mapping[str, Outlet] | None = None) -> None:
        self.services = services
        self.channels = channels if channels is not None else {}

    async def __call__(self, row: Taken) -> list[Draft]:
        body = row.body
        if row.kind == "message":
            return await self._message(row, body)
        if row.kind == "group":
            return self._group(row, body)
        if row.kind == "status":
            await off_loop(self._status, row, body)
        return []  # "ignored": an edit or an update of no interest, deduped and done

    async def _message(self, row: Taken, body: dict[str, Any]) -> list[Draft]:
        meta = body.get("meta")
        metadata = {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}
        inbound = InboundMessage(row.channel, str(body["user"]), text=body.get("text"),
                                 payload=body.get("payload"), media=body.get("media"),
                                 lang_hint=body.get("hint"), metadata=metadata)
        drafts = []
        if body.get("callback"):  # stop the button's spinner first
            drafts.append(Draft(row.channel, row.conversation, str(body["to"]),
                                {"callback": str(body["callback"])}))
        replies = await self.services.conversation.handle(inbound)
        return drafts + [Draft(row.channel, row.conversation, str(body["to"]), message_item(r))
                         for r in replies]

    def _group(self, row: Taken, body: dict[str, Any]) -> list[Draft]:
        lang = language_from_hint(body.get("hint"), self.services.languages) or "en"
        username = getattr(self.channels.get(row.channel), "username", "")
        link = f"https://t.me/{username}?start=private" if username else "Telegram"
        text = self.services.renderer.text(lang, "ui.private_only", link=link)
        return [Draft(row.channel, row.conversation, str(body["to"]),
                      message_item(OutboundMessage(text=text, lang=lang)))]

    def _status(self, row: Taken, body: dict[str, Any]) -> None:
        if body.get("status") != "failed":
            return
        code = body.get("code")
        reason = "outside the 24-hour window" if code == OUTSIDE_WINDOW else \
            str(body.get("title") or "failed")
        record_delivery(self.services.db, row.channel, row.conversation, "failed", code, reason)


def channel_deliver(channel: Outlet) -> Deliver:
    """Send a draft through a channel: its SendResult, or a network error, as a Delivery.

    (The channels retry 429 and 5xx briefly themselves; RETRY is what is left after.)"""

    async def deliver(address: str, item: dict[str, Any]) -> Delivery:
        if "callback" in item:
            bot = getattr(channel, "bot", None)
            if bot is not None:
                try:
                    await bot.answer_callback_query(item["callback"])
                except Exception as exc:  # an old button: the spinner stops by itself
                    logger.info("callback answer failed (%s)", type(exc).__name__)
            return Delivery(True)
        try:
            if "template" in item:  # an alert outside WhatsApp's window (bot.app.broadcast)
                send_template = getattr(channel, "send_template", None)
                if send_template is None:
                    return Delivery(False, "this channel sends no templates")
                result = await send_template(address, dict(item["template"]))
            else:
                message = message_of(item)
                if message is None:
                    return Delivery(False, "unreadable message")
                result = await channel.send(address, message)
        except (httpx.TimeoutException, httpx.NetworkError, TimeoutError, ConnectionError) as exc:
            return Delivery(False, f"network ({type(exc).__name__})", retry=True)
        if result.outcome is Outcome.SENT:
            return Delivery(True)
        return Delivery(False, result.reason, retry=result.outcome is Outcome.RETRY)

    return deliver
