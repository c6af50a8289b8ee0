"""`make bench` part 3: one alert to 10,000 subscribers through the outbox, against the
channel test doubles at the platforms' real limits.

`python -m tests.bench.broadcast [--subscribers 10000] [--database-url URL] [--quick]`

Half the subscribers are on Telegram, half on WhatsApp (half of those inside the 24-hour
window, so text; half outside, so a template), in eight languages, all in one area. The
doubles (a Bot API and a Graph API on 127.0.0.1, in a process of their own, as the
platforms are) answer 429 to anything over the limit in any one second: Telegram 30 a
second, WhatsApp 80. The bot's side is the real thing: the Broadcaster, the outbox, one
sender per channel with the real TelegramChannel (python-telegram-bot) and WhatsAppChannel
(httpx), paced by bot.app.pacing with bulk at KYR_BULK_SHARE (0.8) of the limit. While
the alert goes out, residents keep writing: a reply is queued (as a turn writes it) every
0.2 s, alternating channels, and its latency is queued -> at the double.

Printed: time from start() to the last delivery per channel against the floor (subscribers
/ allowed rate; allowed = the bulk share of the limit, and the limit itself), the most
requests the double saw in any one second against the limit, 429s, lost (a subscriber
without the alert), duplicated (a subscriber with it twice), and the replies' p50/p99.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"telegram": 30.0, "whatsapp": 80.0}
LANGUAGES = ("en", "es", "zh_Hans", "ar", "ht", "pl", "uk", "fr")
REPLY_EVERY = 0.2  # seconds between residents' replies during the broadcast
TOKEN = "123456:BENCH-token"


# ---- the doubles, in their own process ----

def doubles_main(limits: dict[str, float], pipe: Any) -> None:
    """Bot API and Graph API doubles on one port: record every request's arrival and answer
    429 past the limit in any one second (the platforms' real behaviour)."""
    from aiohttp import web

    arrivals: dict[str, list[tuple[float, str, str]]] = {"telegram": [], "whatsapp": []}
    refused: Counter[str] = Counter()
    recent: dict[str, deque[float]] = {k: deque() for k in arrivals}
    me = {"id": 6000000001, "is_bot": True, "first_name": "Bench", "username": "kyr_bench_bot"}

    def over(platform: str, now: float) -> bool:
        window = recent[platform]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limits[platform]:
            return True
        window.append(now)
        return False

    async def telegram(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        if method == "getMe":
            return web.json_response({"ok": True, "result": me})
        if method != "sendMessage":
            return web.json_response({"ok": True, "result": True})
        now = time.monotonic()
        if over("telegram", now):
            refused["telegram"] += 1
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        text = str(params.get("text", ""))
        arrivals["telegram"].append((now, str(params.get("chat_id")), text[:40]))
        return web.json_response({"ok": True, "result": {
            "message_id": len(arrivals["telegram"]), "date": int(time.time()), "text": text,
            "chat": {"id": int(params.get("chat_id", 0)), "type": "private"}, "from": me}})

    async def graph(request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        if over("whatsapp", now):
            refused["whatsapp"] += 1
            return web.json_response({"error": {"message": "rate limit", "code": 130429}},
                                     status=429)
        if body.get("type") == "template":
            what = "template:" + body["template"]["name"]
        else:
            what = body["text"]["body"][:40]
        arrivals["whatsapp"].append((now, str(body["to"]), what))
        return web.json_response({"messages": [{"id": f"wamid.{len(arrivals['whatsapp'])}"}]})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"arrivals": arrivals, "refused": refused})

    from tests.bench.doubles import serve_until_terminated

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", telegram)
    app.router.add_post("/v21.0/{phone}/messages", graph)
    app.router.add_get("/stats", stats)
    asyncio.run(serve_until_terminated(app, pipe.send))


# ---- the bot's side ----

@dataclass
class Result:
    database: str
    subscribers: int
    by_channel: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)  # start() -> last alert delivered
    floor_share: dict[str, float] = field(default_factory=dict)  # n / (share x limit)
    floor_limit: dict[str, float] = field(default_factory=dict)  # n / limit
    peak: dict[str, int] = field(default_factory=dict)  # most requests in any one second
    refused: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    replies: list[float] = field(default_factory=list)
    replies_lost: int = 0
    start_seconds: float = 0.0
    progress: dict[str, int] = field(default_factory=dict)
    per_10s: dict[str, list[int]] = field(default_factory=dict)  # alerts delivered, by 10 s

    def pct(self, q: float) -> float:
        ordered = sorted(self.replies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


def peak_per_second(times: list[float]) -> int:
    ordered = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(ordered):
        while t - ordered[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def seed(engine: Any, secret: bytes, subscribers: int) -> dict[str, str]:
    """Subscribers written straight into their tables (set-up, not under test): resident ->
    address. Telegram chat ids from 10^6, WhatsApp numbers from 1773 000 0000."""
    import sqlalchemy as sa

    from bot.app.broadcast import ALERTS_PURPOSE
    from bot.storage.addresses import sealer
    from bot.storage.schema import addresses, subscription_areas, subscriptions

    box = sealer(secret)
    now = dt.datetime.now(dt.timezone.utc)
    people, areas, sealed, book = [], [], [], {}
    for i in range(subscribers):
        channel = "telegram" if i % 2 == 0 else "whatsapp"
        address = str(1_000_000 + i) if channel == "telegram" else str(17_730_000_000 + i)
        resident = f"{channel}-bench{i:06d}"
        # WhatsApp: every other one wrote within the day (text), the rest 30 hours ago
        wrote = now - dt.timedelta(hours=2 if (i // 2) % 2 == 0 else 30)
        people.append({"resident": resident, "channel": channel,
                       "language": LANGUAGES[(i // 2) % len(LANGUAGES)], "consent_at": now,
                       "consent_method": "button", "consent_version": "bench",
                       "last_inbound_at": wrote})
        areas.append({"resident": resident, "area": "c24"})
        sealed.append({"resident": resident, "purpose": ALERTS_PURPOSE, "updated_at": now,
                       "sealed": box.encrypt(address.encode()).decode()})
        book[resident] = address
    with engine.begin() as connection:
        for table, rows in ((subscriptions, people), (subscription_areas, areas),
                            (addresses, sealed)):
            for start in range(0, len(rows), 2000):
                connection.execute(sa.insert(table), rows[start:start + 2000])
    return book


def words(settings: Any) -> Any:
    """The real renderer when the content has the alert templates, else the tests' words."""
    try:
        from bot.app.services import load_renderer

        renderer = load_renderer(settings)
        if "alerts.template_agents" in renderer.content.texts:
            return renderer
    except Exception as exc:  # catalogs not compiled: `make bench` compiles them first
        print(f"(real renderer unavailable: {type(exc).__name__}; the tests' words are used)",
              file=sys.stderr)
    from tests.app.broadcast_helpers import Words

    return Words()


async def run(database_url: str, subscribers: int, limits: dict[str, float],
              share: float = 0.8, timeout: float = 900.0) -> Result:
    import httpx

    from bot.app.broadcast import Broadcaster, load_whatsapp_templates, templates_file
    from bot.app.counters import Counters
    from bot.app.outbox import REPLY, Draft, Outbox, Sender, message_item
    from bot.app.queue_tables import in_db_thread
    from bot.app.pacing import Pacer
    from bot.app.turns import channel_deliver
    from bot.channels.base import ChannelContext
    from bot.channels.telegram.channel import TelegramChannel
    from bot.channels.whatsapp.channel import WhatsAppChannel
    from bot.core.messages import OutboundMessage
    from bot.network.alerts import AlertService
    from bot.network.subscriptions import Subscriptions
    from bot.settings import load_settings
    from bot.storage.db import make_engine
    from tests.app.broadcast_helpers import SECRET, approved_alert, clean

    parent, child = multiprocessing.get_context("spawn").Pipe()
    doubles = multiprocessing.get_context("spawn").Process(
        target=doubles_main, args=(limits, child), daemon=True)
    doubles.start()
    port = parent.recv()
    engine = make_engine(database_url)
    clean(engine)
    book = seed(engine, SECRET, subscribers)
    settings = load_settings({"KYR_SECRET_KEY": SECRET.decode()})
    renderer = words(settings)
    box = Outbox(engine, SECRET)
    broadcaster = Broadcaster(engine, SECRET, box, AlertService(engine, SECRET),
                              Subscriptions(engine), renderer, Counters(engine),
                              load_whatsapp_templates(templates_file(settings.content_dir)),
                              tier=None)

    async def handle(_: Any) -> list[Any]:
        return []

    context = ChannelContext(handle, renderer, engine, SECRET)
    telegram = TelegramChannel(context, TOKEN, f"http://127.0.0.1:{port}/bot",
                               webhook_url="https://bench.example.org/hook")
    whatsapp = WhatsAppChannel(context, "T", "1", "app-secret", "verify",
                               f"http://127.0.0.1:{port}/v21.0")
    channels = {"telegram": telegram, "whatsapp": whatsapp}
    result = Result(database_url.split(":")[0], subscribers,
                    dict(Counter(r.split("-")[0] for r in book)))
    replies_sent: dict[str, float] = {}
    try:
        for channel in channels.values():
            await channel.start()
        senders = {name: Sender(box, name, channel_deliver(channel),
                                Pacer.for_channel(name, rate=limits[name], bulk_share=share),
                                gate=broadcaster.gate)
                   for name, channel in channels.items()}
        tasks = [asyncio.create_task(s.run()) for s in senders.values()]
        alert = approved_alert(engine, areas=("c24",), hours=6)
        started = time.monotonic()
        done = asyncio.Event()

        async def residents_write() -> None:
            n = 0
            while not done.is_set() and n < 10_000:
                name = ("telegram", "whatsapp")[n % 2]
                address = str(5_000_000 + n) if name == "telegram" else str(13_120_000_000 + n)
                text = f"reply {n}"
                replies_sent[address] = time.monotonic()
                draft = Draft(name, f"{name}-resident{n}", address,
                              message_item(OutboundMessage(text)), REPLY)
                # written where a turn's replies are: on the database's threads (bot.app.worker)
                await in_db_thread(box.engine, box.enqueue, [draft])
                n += 1
                await asyncio.sleep(REPLY_EVERY)

        writer = asyncio.create_task(residents_write())
        await asyncio.to_thread(broadcaster.start, alert.id)  # as the console starts it
        result.start_seconds = time.monotonic() - started
        deadline = started + timeout
        while time.monotonic() < deadline:
            progress = await asyncio.to_thread(broadcaster.progress, alert.id)
            if progress.queued == 0 and progress.held == 0:
                break
            await asyncio.sleep(0.5)
        done.set()
        await writer
        await asyncio.sleep(1.0)  # the last replies
        for sender in senders.values():
            await sender.stop()
        for task in tasks:
            task.cancel()
        progress = broadcaster.progress(alert.id)
        result.progress = {"sent": progress.sent, "failed": progress.failed,
                           "queued": progress.queued, "held": progress.held}
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"http://127.0.0.1:{port}/stats", timeout=30)).json()
    finally:
        for channel in channels.values():
            try:
                await channel.stop()
            except Exception:
                pass
        doubles.terminate()
        engine.dispose()
    got: Counter[str] = Counter()
    for name in channels:
        arrivals = stats["arrivals"][name]
        alerts = [(t, to) for t, to, what in arrivals if not what.startswith("reply ")]
        for _, to in alerts:
            got[to] += 1
        n = result.by_channel.get(name, 0)
        if alerts:
            result.seconds[name] = max(t for t, _ in alerts) - started
            buckets = [0] * (int(result.seconds[name] // 10) + 1)
            for t, _ in alerts:
                buckets[int((t - started) // 10)] += 1
            result.per_10s[name] = buckets
        result.floor_share[name] = n / (share * limits[name])
        result.floor_limit[name] = n / limits[name]
        result.peak[name] = peak_per_second([t for t, _, _ in arrivals])
        result.refused[name] = int(stats["refused"].get(name, 0))
        for t, to, what in arrivals:
            if what.startswith("reply ") and to in replies_sent:
                result.replies.append(t - replies_sent.pop(to))
    result.replies_lost = len(replies_sent)
    result.lost = sum(1 for address in book.values() if got[address] == 0)
    result.duplicated = sum(1 for address in book.values() if got[address] > 1)
    return result


def report(results: list[Result], limits: dict[str, float], share: float) -> str:
    lines = [f"Broadcast of one alert (bulk share {share:.0%} of each platform's limit; "
             "doubles answer 429 past the limit in any second)", ""]
    for r in results:
        lines.append(f"{r.database}: {r.subscribers} subscribers {r.by_channel}, rows written "
                     f"in {r.start_seconds:.1f} s, delivery rows {r.progress}")
        lines.append("  channel    last delivery  floor(share)  vs floor  floor(limit)  "
                     "peak/s  limit  429s")
        for name in ("telegram", "whatsapp"):
            seconds = r.seconds.get(name, float("nan"))
            lines.append(f"  {name:9}  {seconds:10.1f} s  {r.floor_share[name]:10.1f} s  "
                         f"{(seconds / r.floor_share[name] - 1) * 100:+7.1f}%  "
                         f"{r.floor_limit[name]:10.1f} s  {r.peak[name]:6d}  "
                         f"{limits[name]:5.0f}  {r.refused[name]:4d}")
        for name, buckets in r.per_10s.items():
            lines.append(f"  {name} alerts per 10 s: {' '.join(str(n) for n in buckets)}")
        lines.append(f"  lost {r.lost}, duplicated {r.duplicated}; resident replies during the "
                     f"broadcast: {len(r.replies)} answered, {r.replies_lost} lost, p50 "
                     f"{r.pct(50):.0f} ms, p99 {r.pct(99):.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--database-url", action="append", default=[])
    parser.add_argument("--share", type=float, default=0.8)
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers")
    args = parser.parse_args()
    subscribers = 1000 if args.quick else args.subscribers
    urls = args.database_url
    if not urls:
        folder = Path(tempfile.mkdtemp(prefix="kyr-bench-broadcast-"))
        urls = [f"sqlite:///{folder / 'kyr.sqlite3'}"]
        postgres = os.environ.get("KYR_BENCH_POSTGRES_URL")
        if postgres:
            urls.append(postgres)
    results = []
    for url in urls:  # each printed when done: a later run failing keeps the earlier ones
        results.append(asyncio.run(run(url, subscribers, LIMITS, args.share)))
        print(report(results[-1:], LIMITS, args.share), flush=True)
    print(json.dumps([{k: v for k, v in vars(r).items() if k != "replies"} |
                      {"reply_p50_ms": r.pct(50), "reply_p99_ms": r.pct(99)} for r in results]),
          file=sys.stderr)


if __name__ == "__main__":
    main()
