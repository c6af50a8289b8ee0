"""Telegram, through python-telegram-bot: long polling by default, or a webhook.

Private chats only. Every update is handled once (the update_id, hashed, in the database);
edited messages are ignored so nothing is answered twice; photos and voice notes are
fetched (getFile, then the file, within a size limit) only when the application asks,
while a ticket is open; other media get a short answer that the bot reads text only. Messages are sent as plain text (no parse mode), so nothing in
the content can break formatting; long texts are split at paragraph boundaries. Buttons
are inline keyboards whose callback_data is the payload (at most 64 bytes, checked by
`kyr content check`). Chat ids are not logged;
the bot knows the resident by a keyed hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any, Awaitable, Callable, Optional

import httpx

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.core.delivery import CONNECTIONS

from bot.channels.base import (Channel, ChannelContext, Count, accept_json,
                               count_failed_delivery, quiet_http_loggers,
                               split_text)
from bot.channels.http import download, http_client
from bot.channels.telegram.parse import CHANNEL, parse_update
from bot.channels.telegram.plugin import CAPABILITIES, LIMITS
from bot.core.delivery import SENT, SendResult, refused, retry_later
from bot.core.media import MAX_BYTES, Fetched, Unavailable, check_size, declared_size
from bot.core.dialogue import MENU_PAYLOAD, HUMAN_PAYLOAD
from bot.core.languages import language_from_hint
from bot.core.messages import InboundMessage, OutboundMessage
from bot.storage.offload import off_loop
from bot.storage.once import Once

logger = logging.getLogger(__name__)

DEFAULT_API = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ["message", "callback_query"]  # edits and membership changes are not asked for
COMMANDS = (("menu", "ui.cmd_menu"), ("lang", "ui.cmd_lang"), ("human", "ui.cmd_human"),
            ("stop", "ui.cmd_stop"), ("alerts", "ui.cmd_alerts"), ("delete", "ui.cmd_delete"),
            ("help", "ui.cmd_help"))
# Telegram's language codes for setMyCommands (two-letter ISO 639-1)
TELEGRAM_LANGS = {"zh_Hans": "zh"}


def webhook_secret(secret_key: bytes) -> str:
    """A stable secret for X-Telegram-Bot-Api-Secret-Token, derived from KYR_SECRET_KEY."""
    return hmac.new(secret_key, b"telegram-webhook", hashlib.sha256).hexdigest()[:64]


class TelegramChannel(Channel):
    name = CHANNEL
    limits = LIMITS
    capabilities = CAPABILITIES

    def __init__(self, context: ChannelContext, token: str, api_base: Optional[str] = None,
                 webhook_url: Optional[str] = None) -> None:
        quiet_http_loggers()
        self.context = context
        # A bounded pool with timeouts (bot.app.pacing): the outbox sender's concurrency.
        # No rate limiter of python-telegram-bot's own: the outbox's pacer is the one limit.
        # A second one (AIORateLimiter) let sends bunch between the two, and it retried a
        # 429 itself, a second later and outside our pacing, holding the sender: a refusal
        # (RetryAfter) now goes back to the outbox, which retries with its own backoff.
        self.bot = ExtBot(token, base_url=api_base or DEFAULT_API,
                          request=HTTPXRequest(connection_pool_size=CONNECTIONS, read_timeout=10.0,
                                               write_timeout=10.0, connect_timeout=5.0,
                                               pool_timeout=10.0))
        self.webhook_url = webhook_url
        self.token = token
        self.api_base = api_base or DEFAULT_API
        self.http: Optional[httpx.AsyncClient] = None  # files: getFile and the download
        self.secret = webhook_secret(context.secret)
        self.once = Once(context.db, CHANNEL)
        self.username = ""
        self._poller: Optional[asyncio.Task[None]] = None
        self.intake: Optional[Callable[[dict[str, Any]], Awaitable[None]]] = None

    # ---- lifecycle ----

    async def start(self) -> None:
        self.http = http_client()
        self.once.forget_old()
        await self.bot.initialize()
        self.username = self.bot.username or ""
        await self.register_commands()
        if self.webhook_url:
            await self.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                       allowed_updates=ALLOWED_UPDATES)
        else:
            await self.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        await self.bot.shutdown()
        if self.http is not None:
            await self.http.aclose()

    async def register_commands(self) -> None:
        """The command menu in every live language, from the catalogs."""
        renderer = self.context.renderer
        for lang in self.context.languages:
            commands = [BotCommand(name, renderer.text(lang, key, isolated=False)[:256])
                        for name, key in COMMANDS]
            code = None if lang == "en" else TELEGRAM_LANGS.get(lang, lang)
            await self.bot.set_my_commands(commands, language_code=code)

    async def _poll(self) -> None:
        offset: Optional[int] = None
        delay = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=25,
                                                     allowed_updates=ALLOWED_UPDATES)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the network or Telegram: wait, then try again
                logger.warning("telegram getUpdates failed (%s); retrying in %.0f s",
                               type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            for update in updates:
                # With the server's inbox, an update is stored before the next getUpdates
                # (whose offset acknowledges it); on its own, the channel handles it here.
                try:
                    await (self.intake or self.process)(update.to_dict())
                except Exception as exc:  # not stored: not acknowledged, asked for again
                    logger.warning("telegram update not stored (%s)", type(exc).__name__)
                    await asyncio.sleep(1.0)
                    break
                offset = update.update_id + 1

    # ---- inbound ----

    def routes(self, count: Count) -> list[BaseRoute]:
        async def webhook(request: Request) -> Response:
            if not self.verify(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
                count("telegram_rejected")
                return PlainTextResponse("forbidden", status_code=403)
            return accept_json(await request.body(), self.process, count, "telegram_updates")

        return [Route("/webhooks/telegram", webhook, methods=["POST"])]

    def verify(self, header: Optional[str]) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self.secret.encode())

    async def process(self, data: dict[str, Any]) -> None:
        """Handle one update; never raises (a bad update is logged by type, not content)."""
        try:
            update = parse_update(data)
            if update.update_id is None or not await off_loop(self.once.first_time, update.update_id):
                return
            if update.callback_id is not None:
                await self.bot.answer_callback_query(update.callback_id)  # stop the spinner first
            if update.group and update.chat_id is not None:
                await self._group(update.chat_id, update.hint)
            elif update.inbound is not None and update.chat_id is not None:
                await self._reply(update.chat_id, update.inbound)
        except Exception:
            logger.exception("telegram update %s could not be handled",
                             sorted(k for k in data if k != "update_id"))

    async def _group(self, chat_id: int, hint: Optional[str]) -> None:
        """Answer a group once, pointing to a private chat; read nothing more there."""
        if not await off_loop(self.once.first_time, f"group:{chat_id}"):
            return
        lang = language_from_hint(hint, self.context.languages) or "en"
        link = f"https://t.me/{self.username}?start=private" if self.username else "Telegram"
        text = self.context.renderer.text(lang, "ui.private_only", link=link)
        await self.bot.send_message(chat_id, text)

    async def _reply(self, chat_id: int, inbound: InboundMessage) -> None:
        for message in await self.context.handle(inbound):
            await self.send(str(chat_id), message)

    # ---- media and typing ----

    def file_url(self, file_path: str) -> str:
        """Where a file is downloaded: .../bot<token>/ becomes .../file/bot<token>/."""
        base = self.api_base
        base = base[: -len("bot")] + "file/bot" if base.endswith("/bot") else base + "/file/bot"
        return f"{base}{self.token}/{file_path}"

    async def fetch_media(self, ref: str, limit: int = MAX_BYTES) -> Fetched:
        """A resident's photo or voice note: getFile (its path and declared size), then the
        file, through the bounded client. Raises TooLarge or Unavailable; the URLs carry
        the token and are never logged."""
        if self.http is None:
            raise RuntimeError("start() the Telegram channel before fetching media")
        try:
            response = await self.http.post(f"{self.api_base}{self.token}/getFile",
                                            json={"file_id": ref})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"Telegram getFile failed ({type(exc).__name__})") from None
        result = answer.get("result") if isinstance(answer, dict) and answer.get("ok") else None
        if not isinstance(result, dict):
            # Telegram's own limit for bots is 20 MB: above it getFile says "file is too big".
            raise Unavailable(f"Telegram getFile refused (HTTP {response.status_code})")
        check_size(declared_size(result.get("file_size")), limit)
        path = result.get("file_path")
        if not isinstance(path, str) or not path or ".." in path:
            raise Unavailable("Telegram gave no file path")
        data = await download(self.http, self.file_url(path), limit)
        return Fetched(data, "")

    async def typing(self, recipient: str, message_id: Optional[str] = None) -> bool:
        """"typing…" in the resident's chat for about 5 s (Telegram's sendChatAction)."""
        try:
            await self.bot.send_chat_action(int(recipient), "typing")
        except (TelegramError, ValueError) as exc:
            logger.info("telegram typing indicator failed (%s)", type(exc).__name__)
            return False
        return True

    # ---- outbound ----

    def keyboard(self, message: OutboundMessage) -> Optional[InlineKeyboardMarkup]:
        if not message.buttons:
            return None
        # Payloads fit callback_data's 64 bytes: `kyr content check` refuses longer ones.
        rows = [[InlineKeyboardButton(b.title, callback_data=b.payload)]
                for b in message.buttons if b.payload not in (MENU_PAYLOAD, HUMAN_PAYLOAD)]
        globals_ = [InlineKeyboardButton(b.title, callback_data=b.payload)
                    for b in message.buttons if b.payload in (MENU_PAYLOAD, HUMAN_PAYLOAD)]
        return InlineKeyboardMarkup(rows + ([globals_] if globals_ else []))

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        chunks = split_text(message.text, LIMITS.text) or [" "]
        for i, chunk in enumerate(chunks):
            markup = self.keyboard(message) if i == len(chunks) - 1 else None
            try:
                await self.bot.send_message(int(recipient), chunk, reply_markup=markup)
            except TelegramError as exc:
                logger.warning("telegram sendMessage failed: %s", type(exc).__name__)
                reason = f"Telegram refused the message ({type(exc).__name__})"
                if isinstance(exc, (RetryAfter, NetworkError)):
                    return retry_later(reason)
                await off_loop(count_failed_delivery, self.context, CHANNEL, "send")
                return refused(reason)
        return SENT
