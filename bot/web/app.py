"""`kyr serve`: Starlette + uvicorn, every channel whose settings are present, the staff
console at /staff, and an hourly purge of what the retention settings say must go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.channels.base import Channel, ChannelContext
from bot.channels.registry import build_channels
from bot.handoff.tickets import URGENT
from bot.settings import Settings
from bot.web.console import Console
from bot.web.transparency import Dashboard

if TYPE_CHECKING:  # the services import Rasa: loaded in the lifespan, off the event loop
    from bot.app.services import Services

logger = logging.getLogger(__name__)


@dataclass
class Live:
    """What the web app serves with: the services once loaded (None while starting)."""

    services: Optional[Services] = None
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    @property
    def channels(self) -> dict[str, Channel]:
        if self.services is None:
            return {}
        return {name: c for name, c in self.services.channels.items() if isinstance(c, Channel)}


def channel_context(services: Services) -> ChannelContext:
    return ChannelContext(services.conversation.handle, services.renderer, services.db,
                          services.settings.secret_key(),
                          failed_delivery=services.counters.delivery_failed)


PURGE_EVERY = 3600.0  # seconds


async def purge_forever(services: Services) -> None:
    """Idle conversations and old transcript text go while the server runs, not only at start."""
    while True:
        await asyncio.sleep(PURGE_EVERY)
        try:
            await asyncio.to_thread(services.purge_expired)
        except Exception:
            logger.exception("purge failed; it runs again in an hour")


def create_app(settings: Settings, env: Optional[dict[str, str]] = None,
               services: Optional[Services] = None,
               channels: Optional[dict[str, Channel]] = None) -> Starlette:
    """The app; tests pass loaded `services` and their own `channels` (test doubles)."""
    live = Live(services)
    environment = dict(os.environ if env is None else env)
    if services is not None and channels is not None:
        services.channels = dict(channels)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from bot.app.services import build

        loaded: Services = services if services is not None else \
            await asyncio.to_thread(build, settings)
        started = dict(channels) if channels is not None else \
            build_channels(channel_context(loaded), environment)
        for name, channel in list(started.items()):
            try:
                await channel.start()
                logger.warning("channel %s is on", name)
            except Exception as exc:  # one platform down must not take the others with it
                logger.error("channel %s could not start (%s); it stays off", name,
                             type(exc).__name__)
                del started[name]
        loaded.channels = dict(started)
        for channel in started.values():  # the platforms' webhooks, before the console's pages
            app.router.routes[:0] = channel.routes(live.count)
        live.services = loaded
        purging = asyncio.create_task(purge_forever(loaded))
        try:
            yield
        finally:
            purging.cancel()
            for channel in started.values():
                await channel.stop()

    async def healthz(request: Request) -> Response:
        ready = live.services is not None
        return JSONResponse({"ok": ready, "channels": sorted(live.channels)},
                            status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        counters = dict(live.counters)
        for channel in live.channels.values():
            counters.update(getattr(channel, "counters", {}))
        lines = [f"kyr_{name} {value}" for name, value in sorted(counters.items())]
        if live.services is not None:
            waiting = await asyncio.to_thread(live.services.tickets.queue)
            lines += [f"kyr_tickets_waiting {len(waiting)}",
                      f"kyr_tickets_waiting_urgent {sum(t.priority == URGENT for t in waiting)}"]
            fallbacks = live.services.renderer.catalogs.fallbacks
            lines += [f'kyr_untranslated_shown{{lang="{lang}"}} {n}' for lang, n in fallbacks.items()]
        return PlainTextResponse("\n".join(lines) + "\n")

    console = Console(live)
    transparency: list[Any] = []

    def transparency_service() -> Any:
        """The public dashboard's service, on the bot's database (bot/web/transparency.py)."""
        if not transparency:
            from bot.storage.db import make_engine
            from bot.transparency.service import Transparency

            database = live.services.db if live.services is not None else \
                make_engine(settings.database_url)
            transparency.append(Transparency(settings, database))
        return transparency[0]

    app = Starlette(routes=[
        *console.routes(),
        *Dashboard(transparency_service).routes(),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ], lifespan=lifespan)
    app.state.live = live
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # Rasa holds websockets at 10.4; uvicorn's default websocket stack needs a newer one.
    uvicorn.run(create_app(settings), host=host, port=port, ws="wsproto", log_level="warning",
                access_log=False)  # access logs would carry chat-bearing URLs of some platforms
