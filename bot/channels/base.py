"""The channel port: parse platform input, send OutboundMessages, start and stop."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from types import TracebackType
import json
from typing import Any, Awaitable, Callable, ClassVar, Optional, Type, TypeVar

from sqlalchemy.engine import Engine as Database
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot.core.delivery import Capabilities, Limits, SendResult
from bot.core.messages import InboundMessage, OutboundMessage
from bot.core.render import Renderer
from bot.identity import resident_key

# What a channel calls with each message a resident sent: the bot's replies come back.
Handler = Callable[[InboundMessage], Awaitable[list[OutboundMessage]]]


@dataclass(frozen=True)
class ChannelContext:
    """All a channel is handed: the callback, the texts, the database and the secret.

    Never the engine or the application (a test proves it): a channel parses, sends and
    calls `handle`."""

    handle: Handler
    renderer: Renderer
    db: Database
    secret: bytes
    # Counts a message that never reached a resident (channel, path), for the transparency
    # report (bot.app.counters.Counters.delivery_failed); None counts nothing.
    failed_delivery: Callable[[str, str], None] | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return self.renderer.dialogue.languages

    def resident(self, channel: str, user: str) -> str:
        """The keyed hash the bot knows a resident by (for delivery records)."""
        return resident_key(self.secret, channel, user)

logger = logging.getLogger(__name__)


def split_text(text: str, limit: int = 4096) -> list[str]:
    """Chunks under `limit`, cut at paragraph, then line, then word boundaries."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        for separator in ("\n\n", "\n", " "):  # the largest unit that leaves a decent chunk
            cut = rest.rfind(separator, 0, limit)
            if cut > limit // 2:
                break
        else:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return chunks + ([rest] if rest else [])


def quiet_http_loggers() -> None:
    """HTTP client libraries log request bodies at DEBUG: chat ids, numbers, message text.

    Logs must carry none of these whatever the operator's log level, so their loggers stay
    at WARNING (called by every channel that uses one).
    """
    for name in ("telegram", "httpx", "httpcore", "aiohttp.client"):
        logging.getLogger(name).setLevel(logging.WARNING)


def count_failed_delivery(context: ChannelContext, channel: str, path: str) -> None:
    """Count a message that did not reach a resident ("send": refused by the platform,
    "status": reported failed later), through the callback the context carries."""
    if context.failed_delivery is None:
        return
    try:
        context.failed_delivery(channel, path)
    except Exception:  # a count is never worth a lost send
        logger.exception("a failed delivery could not be counted")


def numbered_text(message: OutboundMessage, start: int = 1) -> str:
    """Rich output degrades to text: buttons become a numbered list under the message.

    `start` continues the numbering of earlier messages of the same reply, so no two
    lists in one reply both start at 1 ("1" must not mean two things)."""
    if not message.buttons:
        return message.text
    lines = [message.text, ""]
    lines += [f"{i}. {button.title}" for i, button in enumerate(message.buttons, start=start)]
    return "\n".join(lines)


ChannelT = TypeVar("ChannelT", bound="Channel")
Count = Callable[[str], None]  # the web app's counters, for /metrics


def accept_json(body: bytes, process: Callable[[dict[str, Any]], Awaitable[None]],
                count: Count, counter: str) -> Response:
    """A verified webhook body: 200 at once (platforms retry slow webhooks), handled after."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return PlainTextResponse("bad request", status_code=400)
    count(counter)
    return PlainTextResponse("ok", background=BackgroundTask(process, data))


class Channel(abc.ABC):
    """One platform. Subclasses declare what the platform allows and how to reach it."""

    name: str = "channel"
    limits: ClassVar[Limits] = Limits()
    capabilities: ClassVar[Capabilities] = Capabilities()

    def routes(self, count: Count) -> list[BaseRoute]:
        """The web routes the platform calls (webhooks); none by default."""
        return []

    async def start(self) -> None:
        """Open connections; the default has none."""

    async def stop(self) -> None:
        """Close connections; the default has none."""

    @abc.abstractmethod
    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        """Deliver one message in the platform's richest form that fits.

        Sent, refused (with the reason, in words staff can act on: "outside the 24-hour
        window") or to retry later; never raises for a platform's refusal."""

    async def __aenter__(self: ChannelT) -> ChannelT:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.stop()
