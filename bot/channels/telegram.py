"""Telegram, through python-telegram-bot: long polling by default, or a webhook.

Private chats only. Every update is handled once (the update_id, hashed, in the database);
edited messages are ignored so nothing is answered twice; media get a short answer that
the bot reads text only. Messages are sent as plain text (no parse mode), so nothing in
the content can break formatting; long texts are split at paragraph boundaries. Buttons
are inline keyboards whose callback_data is the payload (at most 64 bytes, checked by
`kyr content check`; a longer one is replaced by a short key). Chat ids are not logged;
the bot knows the resident by a keyed hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any, Optional

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.channels.base import Channel, ChannelContext, quiet_http_loggers, split_text
from bot.core.dialogue import MENU_PAYLOAD, HUMAN_PAYLOAD
from bot.core.languages import language_from_hint
from bot.core.messages import InboundMessage, OutboundMessage
from bot.storage.once import Once

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
DEFAULT_API = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ["message", "callback_query"]  # edits and membership changes are not asked for
COMMANDS = (("menu", "ui.cmd_menu"), ("lang", "ui.cmd_lang"), ("human", "ui.cmd_human"),
            ("stop", "ui.cmd_stop"), ("delete", "ui.cmd_delete"), ("help", "ui.cmd_help"))
MEDIA = ("photo", "voice", "audio", "video", "video_note", "sticker", "document", "animation",
         "location", "venue", "contact", "poll", "dice")
# Telegram's language codes for setMyCommands (two-letter ISO 639-1)
TELEGRAM_LANGS = {"zh_Hans": "zh"}


def webhook_secret(secret_key: bytes) -> str:
    """A stable secret for X-Telegram-Bot-Api-Secret-Token, derived from KYR_SECRET_KEY."""
    return hmac.new(secret_key, b"telegram-webhook", hashlib.sha256).hexdigest()[:64]


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, context: ChannelContext, token: str, api_base: Optional[str] = None,
                 webhook_url: Optional[str] = None) -> None:
        quiet_http_loggers()
        self.context = context
        self.bot = ExtBot(token, base_url=api_base or DEFAULT_API,
                          rate_limiter=AIORateLimiter(max_retries=2))
        self.webhook_url = webhook_url
        self.secret = webhook_secret(context.secret)
        self.once = Once(context.db, CHANNEL)
        self.username = ""
        self._poller: Optional[asyncio.Task[None]] = None

    # ---- lifecycle ----

    async def start(self) -> None:
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
                offset = update.update_id + 1
                await self.process(update.to_dict())

    # ---- inbound ----

    def verify(self, header: Optional[str]) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self.secret.encode())

    async def process(self, data: dict[str, Any]) -> None:
        """Handle one update; never raises (a bad update is logged by type, not content)."""
        try:
            update = Update.de_json(data, self.bot)
            if update is None or not self.once.first_time(str(update.update_id)):
                return
            if update.callback_query is not None:
                await self._callback(update)
            elif update.message is not None:
                await self._message(update)
            # edited_message and everything else: ignored, never answered twice
        except Exception:
            logger.exception("telegram update %s could not be handled",
                             sorted(k for k in data if k != "update_id"))

    async def _callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()  # stop the button's spinner first
        chat = query.message.chat if query.message is not None else None
        if chat is None or chat.type != "private" or query.from_user is None:
            return
        await self._reply(chat.id, InboundMessage(
            CHANNEL, str(query.from_user.id), payload=query.data or "",
            lang_hint=query.from_user.language_code))

    async def _message(self, update: Update) -> None:
        message = update.message
        assert message is not None
        user = message.from_user
        if message.chat.type != "private":
            await self._group(message.chat.id, user.language_code if user else None)
            return
        if user is None or user.is_bot:
            return
        hint = user.language_code
        if message.text is not None:
            inbound = InboundMessage(CHANNEL, str(user.id), text=message.text, lang_hint=hint)
        else:
            kind = next((k for k in MEDIA if getattr(message, k, None)), "other")
            inbound = InboundMessage(CHANNEL, str(user.id), media=kind, lang_hint=hint)
        await self._reply(message.chat.id, inbound)

    async def _group(self, chat_id: int, hint: Optional[str]) -> None:
        """Answer a group once, pointing to a private chat; read nothing more there."""
        if not self.once.first_time(f"group:{chat_id}"):
            return
        lang = language_from_hint(hint, self.context.languages) or "en"
        link = f"https://t.me/{self.username}?start=private" if self.username else "Telegram"
        text = self.context.renderer.text(lang, "ui.private_only", link=link)
        await self.bot.send_message(chat_id, text)

    async def _reply(self, chat_id: int, inbound: InboundMessage) -> None:
        for message in await self.context.handle(inbound):
            await self.send(str(chat_id), message)

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

    async def send(self, recipient: str, message: OutboundMessage) -> Optional[str]:
        chunks = split_text(message.text) or [" "]
        for i, chunk in enumerate(chunks):
            markup = self.keyboard(message) if i == len(chunks) - 1 else None
            try:
                await self.bot.send_message(int(recipient), chunk, reply_markup=markup)
            except TelegramError as exc:
                logger.warning("telegram sendMessage failed: %s", type(exc).__name__)
                return f"Telegram refused the message ({type(exc).__name__})"
        return None
