"""The channel types this bot knows; builds those whose settings are all present.

The web app mounts each built channel's routes without knowing any platform; adding a
platform is a folder under bot/channels/ with a `plugin` module, listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from bot.channels.base import Channel, ChannelContext
from bot.channels.telegram import plugin as telegram
from bot.channels.whatsapp import plugin as whatsapp
from bot.core.delivery import Capabilities, Limits


@dataclass(frozen=True)
class ChannelType:
    name: str
    settings: tuple[str, ...]  # environment variables that must all be set to run it
    limits: Limits
    capabilities: Capabilities
    build: Callable[[ChannelContext, Mapping[str, str]], Channel]

    def configured(self, env: Mapping[str, str]) -> bool:
        return all(env.get(key) for key in self.settings)


TYPES = tuple(ChannelType(p.NAME, p.SETTINGS, p.LIMITS, p.CAPABILITIES, p.build)
              for p in (telegram, whatsapp))


def build_channels(context: ChannelContext, env: Mapping[str, str]) -> dict[str, Channel]:
    return {kind.name: kind.build(context, env) for kind in TYPES if kind.configured(env)}


def strictest() -> Limits:
    """What content must fit to render well on every channel (the content check's limits)."""
    return Limits(**{field: min(getattr(kind.limits, field) for kind in TYPES)
                     for field in ("text", "button_title", "payload_bytes")})
