"""`kyr serve`: Starlette + uvicorn, every channel whose settings are present, the staff
console at /staff, and an hourly purge of what the retention settings say must go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.handoff.tickets import URGENT

from bot.channels.base import Channel, ChannelContext
from bot.settings import Settings
from bot.web.console import Console

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
                          services.settings.secret_key())


def channels_from_environment(context: ChannelContext, env: dict[str, str]) -> dict[str, Channel]:
    found: dict[str, Channel] = {}
    if env.get("TELEGRAM_BOT_TOKEN"):
        from bot.channels.telegram import TelegramChannel

        found["telegram"] = TelegramChannel(context, env["TELEGRAM_BOT_TOKEN"],
                                            env.get("TELEGRAM_API_BASE") or None,
                                            env.get("TELEGRAM_WEBHOOK_URL") or None)
    keys = ("WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
    if all(env.get(k) for k in keys):
        from bot.channels.whatsapp import WhatsAppChannel

        token, phone_id, app_secret, verify_token = (env[k] for k in keys)
        found["whatsapp"] = WhatsAppChannel(context, token, phone_id, app_secret, verify_token,
                                            api_base=env.get("WHATSAPP_API_BASE") or None)
    return found


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

        loaded = services or await asyncio.to_thread(build, settings)
        started = dict(channels) if channels is not None else \
            channels_from_environment(channel_context(loaded), environment)
        for name, channel in list(started.items()):
            try:
                await channel.start()
                logger.warning("channel %s is on", name)
            except Exception as exc:  # one platform down must not take the others with it
                logger.error("channel %s could not start (%s); it stays off", name,
                             type(exc).__name__)
                del started[name]
        loaded.channels = dict(started)
        live.services = loaded
        purging = asyncio.create_task(purge_forever(loaded))
        try:
            yield
        finally:
            purging.cancel()
            for channel in started.values():
                await channel.stop()

    def accept(body: bytes, process: Any, counter: str) -> Response:
        """A verified webhook body: 200 at once (platforms retry slow webhooks), handled after."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return PlainTextResponse("bad request", status_code=400)
        live.count(counter)
        return PlainTextResponse("ok", background=BackgroundTask(process, data))

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

    async def telegram_webhook(request: Request) -> Response:
        channel = live.channels.get("telegram")
        if channel is None:
            return PlainTextResponse("telegram is off", status_code=404)
        from bot.channels.telegram import TelegramChannel

        assert isinstance(channel, TelegramChannel)
        if not channel.verify(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            live.count("telegram_rejected")
            return PlainTextResponse("forbidden", status_code=403)
        return accept(await request.body(), channel.process, "telegram_updates")

    def whatsapp() -> Any:
        from bot.channels.whatsapp import WhatsAppChannel

        channel = live.channels.get("whatsapp")
        return channel if isinstance(channel, WhatsAppChannel) else None

    async def whatsapp_verify(request: Request) -> Response:
        channel = whatsapp()
        if channel is None:
            return PlainTextResponse("whatsapp is off", status_code=404)
        q = request.query_params
        challenge = channel.handshake(q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"))
        if challenge is None:
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(challenge)

    async def whatsapp_webhook(request: Request) -> Response:
        channel = whatsapp()
        if channel is None:
            return PlainTextResponse("whatsapp is off", status_code=404)
        body = await request.body()
        header = request.headers.get("X-Hub-Signature-256")
        if header is None:
            live.count("whatsapp_unsigned")
            return PlainTextResponse("unsigned", status_code=401)
        if not channel.verify(body, header):  # before anything is parsed
            live.count("whatsapp_bad_signature")
            return PlainTextResponse("bad signature", status_code=403)
        return accept(body, channel.process, "whatsapp_webhooks")

    console = Console(live)
    app = Starlette(routes=[
        *console.routes(),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp", whatsapp_verify, methods=["GET"]),
        Route("/webhooks/whatsapp", whatsapp_webhook, methods=["POST"]),
    ], lifespan=lifespan)
    app.state.live = live
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # Rasa holds websockets at 10.4; uvicorn's default websocket stack needs a newer one.
    uvicorn.run(create_app(settings), host=host, port=port, ws="wsproto", log_level="warning",
                access_log=False)  # access logs would carry chat-bearing URLs of some platforms
