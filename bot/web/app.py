"""`kyr serve`: Starlette + uvicorn, every channel whose settings are present, the staff
console at /staff, and an hourly purge of what the retention settings say must go.

A webhook passes the edge (bot.web.edge) into the durable inbox and is answered 200 only
then; inbox workers run the turns and write the replies to the outbox; one sender per
channel drains it at the platform's pace (bot.app). Any number of these processes can
share one PostgreSQL database (`kyr serve --workers N`)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app.broadcast import Broadcaster, for_services
from bot.app.inbox import Envelope, Inbox
from bot.app.outbox import Outbox, Sender
from bot.app.pacing import Pacer
from bot.app.queue_tables import in_db_thread
from bot.app.turns import EngineTurns, channel_deliver
from bot.app.worker import InboxWorker
from bot.channels.base import Channel, ChannelContext
from bot.channels.registry import build_channels
from bot.core.problems import StartupError
from bot.handoff.tickets import URGENT
from bot.settings import Settings
from bot.web import edge
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
    inbox: Optional[Inbox] = None
    outbox: Optional[Outbox] = None
    worker: Optional[InboxWorker] = None
    senders: dict[str, Sender] = field(default_factory=dict)
    broadcaster: Optional[Broadcaster] = None  # alerts: plan, start, progress (the console's)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def store(self, envelopes: list[Envelope]) -> None:
        """Durable before acknowledged: the caller answers 200 only after this returns."""
        if self.inbox is None:  # a webhook before startup finished: not acknowledged
            raise RuntimeError("the inbox is not open yet")
        stored = await in_db_thread(self.inbox.engine, self.inbox.put, envelopes)
        self.count("inbox_new", stored.new)
        self.count("inbox_duplicate", stored.duplicate)
        self.count("inbox_stale", stored.stale)
        if stored.new and self.worker is not None:
            self.worker.wake()

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


async def purge_forever(services: Services, live: Live) -> None:
    """Idle conversations and old transcript text go while the server runs, not only at start."""
    while True:
        await asyncio.sleep(PURGE_EVERY)
        try:
            await asyncio.to_thread(services.purge_expired)
            if live.inbox is not None and live.outbox is not None:
                await asyncio.to_thread(live.inbox.forget_old)
                await asyncio.to_thread(live.outbox.forget_old, 3 * 24 * 3600.0)
            if live.broadcaster is not None:
                await asyncio.to_thread(live.broadcaster.forget_old,
                                        services.settings.retention_days * 86400.0)
        except Exception as exc:
            logger.error("purge failed (%s); it runs again in an hour", type(exc).__name__)


GRACE = 30.0  # seconds a stopping worker gives the turns and sends in flight
RESUME_EVERY = 10.0  # seconds: alerts cut short by a crash go on, held rows are released


async def resume_forever(broadcaster: Broadcaster) -> None:
    """At start and periodically (any worker may; each step is idempotent)."""
    while True:
        try:
            await asyncio.to_thread(broadcaster.resume)
        except Exception as exc:
            logger.error("resuming alerts failed (%s); trying again shortly", type(exc).__name__)
        await asyncio.sleep(RESUME_EVERY)


def start_queues(live: Live, services: Services) -> list[asyncio.Task[None]]:
    """The inbox worker and one sender per channel, on the services' database."""
    settings = services.settings
    secret = settings.secret_key()
    max_age = settings.max_message_age_hours * 3600 or None
    live.inbox = Inbox(services.db, secret, max_age=max_age, lease=settings.lease_seconds)
    live.outbox = services.outbox  # the one the relay queues staff replies in
    live.worker = InboxWorker(live.inbox, live.outbox, EngineTurns(services, live.channels))
    live.broadcaster = for_services(services, live.outbox)
    for name, channel in live.channels.items():
        rate = settings.whatsapp_mps if name == "whatsapp" else None
        live.senders[name] = Sender(live.outbox, name, channel_deliver(channel),
                                    Pacer.for_channel(name, settings.workers, rate,
                                                      settings.bulk_share),
                                    gate=live.broadcaster.gate)
    return [asyncio.create_task(live.worker.run()),
            *(asyncio.create_task(sender.run()) for sender in live.senders.values()),
            asyncio.create_task(resume_forever(live.broadcaster))]


async def stop_queues(live: Live, tasks: list[asyncio.Task[None]]) -> None:
    """Graceful: turns in flight finish and their replies are sent before the process ends."""
    if live.worker is not None:
        await live.worker.stop(GRACE)
    for sender in live.senders.values():
        await sender.stop(GRACE / 3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def edge_routes(live: Live) -> list[Route]:
    """The webhooks through the edge into the inbox (ahead of the channels' own routes)."""

    async def accept(parsed: edge.Parsed, counter: str) -> Response:
        live.count(counter)
        live.count(f"{counter}_skipped", parsed.skipped)
        try:
            await live.store(parsed.envelopes)
        except Exception as exc:  # not stored: the platform must deliver it again
            logger.error("inbox write failed (%s); answering 503", type(exc).__name__)
            return PlainTextResponse("try again", status_code=503)
        return PlainTextResponse("ok")

    async def telegram_webhook(request: Request) -> Response:
        channel = live.channels.get("telegram")
        verify = getattr(channel, "verify", None)
        if verify is None:
            return PlainTextResponse("telegram is off", status_code=404)
        if not verify(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            live.count("telegram_rejected")  # refused from the headers: body unread
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = await edge.parse_object(await edge.read_body(request))
        except edge.Refused as refused:
            live.count(f"telegram_refused_{refused.status}")
            return PlainTextResponse(refused.text, status_code=refused.status)
        return await accept(edge.parse_telegram(data), "telegram_updates")

    async def whatsapp_webhook(request: Request) -> Response:
        secret = getattr(live.channels.get("whatsapp"), "app_secret", None)
        if secret is None:
            return PlainTextResponse("whatsapp is off", status_code=404)
        header = request.headers.get("X-Hub-Signature-256")
        if header is None or not edge.signature_form_ok(header):  # headers alone: body unread
            live.count("whatsapp_unsigned")
            return PlainTextResponse("unsigned", status_code=401)
        try:
            body = await edge.read_body(request)
            if not await edge.hmac_matches(secret, body, header):
                live.count("whatsapp_bad_signature")  # before anything is parsed
                return PlainTextResponse("bad signature", status_code=403)
            data = await edge.parse_object(body)
        except edge.Refused as refused:
            live.count(f"whatsapp_refused_{refused.status}")
            return PlainTextResponse(refused.text, status_code=refused.status)
        return await accept(edge.parse_whatsapp(data), "whatsapp_webhooks")

    return [Route("/webhooks/telegram", telegram_webhook, methods=["POST"]),
            Route("/webhooks/whatsapp", whatsapp_webhook, methods=["POST"])]


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
        from bot.app.services import build, settle

        loaded: Services = services if services is not None else \
            await asyncio.to_thread(build, settings)
        if services is None:  # a served process (not a test's services): see settle
            settle()
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
        app.router.routes[:0] = edge_routes(live)  # POSTs go through the edge and the inbox
        live.services = loaded
        queues = start_queues(live, loaded)
        telegram = started.get("telegram")
        if telegram is not None:  # long polling stores updates the way the webhook does
            async def intake(data: dict[str, Any]) -> None:
                await live.store(edge.parse_telegram(data).envelopes)

            setattr(telegram, "intake", intake)
        purging = asyncio.create_task(purge_forever(loaded, live))
        try:
            yield
        finally:
            purging.cancel()
            await stop_queues(live, queues)
            for channel in started.values():
                await channel.stop()

    async def healthz(request: Request) -> Response:
        ready = live.services is not None
        return JSONResponse({"ok": ready, "channels": sorted(live.channels)},
                            status_code=200 if ready else 503)

    def metrics_allowed(request: Request) -> bool:
        """Not public: from loopback, or with KYR_METRICS_TOKEN as a bearer token."""
        token = settings.metrics_token
        if token is not None:
            given = request.headers.get("authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
        host = request.client.host if request.client is not None else ""
        return host in ("127.0.0.1", "::1", "localhost", "testclient")

    async def metrics(request: Request) -> Response:
        if not metrics_allowed(request):
            return PlainTextResponse("forbidden", status_code=403)
        counters = dict(live.counters)
        for channel in live.channels.values():
            counters.update(getattr(channel, "counters", {}))
        for name, sender in live.senders.items():
            counters.update({f"outbox_{name}_{k}_this_worker": v for k, v in sender.counters.items()})
        lines = [f"kyr_{name} {value}" for name, value in sorted(counters.items())]
        if live.inbox is not None and live.outbox is not None:
            # From the database: the same numbers whichever worker answers.
            inbox_counts = await asyncio.to_thread(live.inbox.counts)
            outbox_counts = await asyncio.to_thread(live.outbox.counts)
            states = ("todo", "doing", "done", "stale", "failed")
            lines += [f'kyr_inbox{{state="{state}"}} {inbox_counts.get(state, 0)}' for state in states]
            lines += [f'kyr_outbox{{channel="{c}",state="{state}"}} {n}'
                      for (c, state), n in sorted(outbox_counts.items())]
        if live.services is not None:
            waiting = await asyncio.to_thread(live.services.tickets.queue)
            lines += [f"kyr_tickets_waiting {len(waiting)}",
                      f"kyr_tickets_waiting_urgent {sum(t.priority == URGENT for t in waiting)}"]
            fallbacks = live.services.renderer.catalogs.fallbacks
            lines += [f'kyr_untranslated_shown{{lang="{lang}"}} {n}' for lang, n in fallbacks.items()]
        return PlainTextResponse("\n".join(lines) + "\n")

    console = Console(live, environment)
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


def factory() -> Starlette:
    """The app of one worker process: `kyr serve --workers N` starts N of these."""
    from bot.engine.engine import silence_rasa_event_logs
    from bot.settings import load_settings

    silence_rasa_event_logs()
    return create_app(load_settings())


def workers_refused(settings: Settings, workers: int, env: dict[str, str]) -> Optional[str]:
    """Why N workers cannot run on these settings, or None."""
    if workers <= 1:
        return None
    if settings.database_url.startswith("sqlite"):
        return ("--workers needs PostgreSQL (DATABASE_URL): an SQLite file takes one writer, "
                "so more processes would only wait on each other; run one worker")
    if env.get("TELEGRAM_BOT_TOKEN") and not env.get("TELEGRAM_WEBHOOK_URL"):
        return ("Telegram long polling has one consumer: with --workers above 1 every worker "
                "would call getUpdates and Telegram answers all but one with a conflict; set "
                "TELEGRAM_WEBHOOK_URL (webhook mode) or run one worker")
    return None


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    refused = workers_refused(settings, workers, dict(os.environ))
    if refused:
        raise StartupError(f"kyr serve: {refused}")
    # Rasa holds websockets at 10.4; uvicorn's default websocket stack needs a newer one.
    # Access logs would carry chat-bearing URLs of some platforms: off. proxy_headers off:
    # the console decides whose X-Forwarded-For to believe (KYR_TRUSTED_PROXIES), not
    # uvicorn's default of trusting 127.0.0.1.
    options: dict[str, Any] = dict(host=host, port=port, ws="wsproto", log_level="warning",
                                   access_log=False, timeout_graceful_shutdown=int(GRACE) + 5,
                                   proxy_headers=False)
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    os.environ["KYR_WORKERS"] = str(workers)  # each process paces at 1/N of the limits
    uvicorn.run("bot.web.app:factory", factory=True, workers=workers, **options)
