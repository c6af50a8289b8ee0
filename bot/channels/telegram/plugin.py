"""What the registry knows of Telegram before building it (no SDK imported here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from bot.core.delivery import Capabilities, Limits

if TYPE_CHECKING:
    from bot.channels.base import Channel, ChannelContext

NAME = "telegram"
SETTINGS = ("TELEGRAM_BOT_TOKEN",)  # all set: the channel runs
OPTIONAL = ("TELEGRAM_API_BASE", "TELEGRAM_WEBHOOK_URL")  # a webhook instead of polling
LIMITS = Limits(text=4096, buttons=100, button_title=64, payload_bytes=64, list_rows=0)
CAPABILITIES = Capabilities(reply_window=None, templates=False, typing_indicator=True)


def build(context: "ChannelContext", env: Mapping[str, str]) -> "Channel":
    from bot.channels.telegram.channel import TelegramChannel

    return TelegramChannel(context, env["TELEGRAM_BOT_TOKEN"], env.get("TELEGRAM_API_BASE") or None,
                           env.get("TELEGRAM_WEBHOOK_URL") or None)
