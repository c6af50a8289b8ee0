"""What the registry knows of WhatsApp before building it."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Mapping

from bot.core.delivery import Capabilities, Limits

if TYPE_CHECKING:
    from bot.channels.base import Channel, ChannelContext

NAME = "whatsapp"
SETTINGS = ("WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET",
            "WHATSAPP_VERIFY_TOKEN")
OPTIONAL = ("WHATSAPP_API_BASE",)
LIMITS = Limits(text=4096, buttons=3, button_title=20, payload_bytes=200, list_rows=10)
CAPABILITIES = Capabilities(
    reply_window=dt.timedelta(hours=24),  # free-form replies only within 24 h of their last message
    window_reason=("outside WhatsApp's 24-hour window: the resident last wrote more than "
                   "24 hours ago, and WhatsApp only lets a business reply within 24 hours"),
    templates=True, typing_indicator=True)


def build(context: "ChannelContext", env: Mapping[str, str]) -> "Channel":
    from bot.channels.whatsapp.channel import WhatsAppChannel

    token, phone_id, app_secret, verify_token = (env[k] for k in SETTINGS)
    return WhatsAppChannel(context, token, phone_id, app_secret, verify_token,
                           api_base=env.get("WHATSAPP_API_BASE") or None)
