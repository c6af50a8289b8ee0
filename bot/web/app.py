"""`kyr serve`: Starlette + uvicorn, every channel whose settings are present, the staff
console at /staff, and an hourly purge of what the retention settings say must go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.channels.base import Channel
from bot.settings import Settings
from bot.web.console import Console

logger = logging.getLogger(__name__)


@dataclass
class Services:
    engine: Any = None
    channels: dict[str, Channel] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1


def channels_from_environment(engine: Any, env: dict[str, str]) -> dict[str, Channel]:
    found: dict[str, Channel] = {}
    if env.get("TELEGRAM_BOT_TOKEN"):
        from bot.channels.telegram import TelegramChannel

        found["telegram"] = TelegramChannel(engine, env["TELEGRAM_BOT_TOKEN"],
                                            env.get("TELEGRAM_API_BASE") or None,
                                            env.get("TELEGRAM_WEBHOOK_URL") or None)
    keys = ("WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
    if all(env.get(k) for k in keys):
        from bot.channels.whatsapp import WhatsAppChannel

        token, phone_id, app_secret, verify_token = (env[k] for k in keys)
        found["whatsapp"] = WhatsAppChannel(engine, token, phone_id, app_secret, verify_token,
                                            api_base=env.get("WHATSAPP_API_BASE") or None)
    return found


PURGE_EVERY = 3600.0  # seconds


async def purge_forever(engine: Any) -> None:
    """Idle conversations and old transcript text go while the server runs, not only at start."""
    while True:
        await asyncio.sleep(PURGE_EVERY)
        try:
            engine.purge_expired()
        except Exception:
            logger.exception("purge failed; it runs again in an hour")


def create_app(settings: Settings, env: Optional[dict[str, str]] = None, engine: Any = None,
               channels: Optional[dict[str, Channel]] = None) -> Starlette:
    """The app; tests pass a loaded `engine` and their own `channels` (test doubles)."""
    services = Services()
    environment = dict(os.environ if env is None else env)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from bot.engine.engine import Engine

        services.engine = engine or await asyncio.to_thread(Engine.load, settings)
        services.channels = dict(channels) if channels is not None else \
            channels_from_environment(services.engine, environment)
        for name, channel in list(services.channels.items()):
            try:
                await channel.start()
                logger.warning("channel %s is on", name)
            except Exception as exc:  # one platform down must not take the others with it
                logger.error("channel %s could not start (%s); it stays off", name,
                             type(exc).__name__)
                del services.channels[name]
        purging = asyncio.create_task(purge_forever(services.engine))
        try:
            yield
        finally:
            purging.cancel()
            for channel in services.channels.values():
                await channel.stop()

    def accept(body: bytes, process: Any, counter: str) -> Response:
        """A verified webhook body: 200 at once (platforms retry slow webhooks), handled after."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return PlainTextResponse("bad request", status_code=400)
        services.count(counter)
        return PlainTextResponse("ok", background=BackgroundTask(process, data))

    async def healthz(request: Request) -> Response:
        ready = services.engine is not None
        return JSONResponse({"ok": ready, "channels": sorted(services.channels)},
                            status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        counters = dict(services.counters)
        for channel in services.channels.values():
            counters.update(getattr(channel, "counters", {}))
        lines = [f"kyr_{name} {value}" for name, value in sorted(counters.items())]
        if services.engine is not None:
            waiting = services.engine.tickets.queue()
            lines += [f"kyr_tickets_waiting {len(waiting)}",
                      f"kyr_tickets_waiting_urgent {sum(t.priority == 'urgent' for t in waiting)}"]
            fallbacks = services.engine.renderer.catalogs.fallbacks
            lines += [f'kyr_untranslated_shown{{lang="{lang}"}} {n}' for lang, n in fallbacks.items()]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def telegram_webhook(request: Request) -> Response:
        channel = services.channels.get("telegram")
        if channel is None:
            return PlainTextResponse("telegram is off", status_code=404)
        from bot.channels.telegram import TelegramChannel

        assert isinstance(channel, TelegramChannel)
        if not channel.verify(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            services.count("telegram_rejected")
            return PlainTextResponse("forbidden", status_code=403)
        return accept(await request.body(), channel.process, "telegram_updates")

    def whatsapp() -> Any:
        from bot.channels.whatsapp import WhatsAppChannel

        channel = services.channels.get("whatsapp")
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
            services.count("whatsapp_unsigned")
            return PlainTextResponse("unsigned", status_code=401)
        if not channel.verify(body, header):  # before anything is parsed
            services.count("whatsapp_bad_signature")
            return PlainTextResponse("bad signature", status_code=403)
        return accept(body, channel.process, "whatsapp_webhooks")

    console = Console(services)
    app = Starlette(routes=[
        *console.routes(),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
        Route("/webhooks/whatsapp", whatsapp_verify, methods=["GET"]),
        Route("/webhooks/whatsapp", whatsapp_webhook, methods=["POST"]),
    ], lifespan=lifespan)
    app.state.services = services
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # Rasa holds websockets at 10.4; uvicorn's default websocket stack needs a newer one.
    uvicorn.run(create_app(settings), host=host, port=port, ws="wsproto", log_level="warning",
                access_log=False)  # access logs would carry chat-bearing URLs of some platforms
