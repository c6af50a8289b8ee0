"""`make bench` part 2: `kyr serve` over HTTP vs stock `rasa run` REST, on 127.0.0.1.

`python -m tests.bench.serving [--residents 500] [--messages 5] [--quick]`

Ours: signed WhatsApp webhooks into `kyr serve --workers N` (SQLite 1 worker, PostgreSQL
1 and 2 workers), replies collected by a Graph API test double in a process of its own
(`graph_main`, asked over HTTP what it got). Each resident sends its messages 0.2 s apart
without waiting for answers (a raid: people type fast), all residents at once. A
reference resident first sends the same script one message at a time, and its replies to
each message are what every resident should get for it, in the same order (else
"reordered"). Counted in replies, per resident (`tally`): "lost", missing for a
webhook the server acknowledged; "late", a reply to a webhook whose 200 the client never
saw (it gave up) that the server had stored and answered anyway, as a durable inbox does
(a platform would redeliver it and the inbox's dedupe keep it from a second answer); "dup",
past one answer for every message sent, acknowledged or not (a text the baseline never sent
is counted apart, in the note). The texts tell which message a reply answers only where one
message alone has them (the menu is every /menu's reply), so
each text is counted against the messages that have it: exact when one message alone has
it or nothing was lost or doubled, otherwise lost and dup are lower bounds. Latency: a
message's webhook POST to the first reply of that message at the double. A crash run
SIGKILLs one worker mid-burst (uvicorn's supervisor starts a new one) and counts the same
things.

Stock: `rasa run --enable-api` with Rasa's SQLTrackerStore on SQLite, the same NLU data
(tests/bench/stock.py), the same residents and messages on its REST channel, which
answers in the HTTP response: each resident waits for each answer (REST has no other
way), latency = the request. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Sequence

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-app-secret"
SCRIPT = ["hola", "/menu", "/lang fr", "/menu", "/lang en", "/menu", "/help", "/menu"]
GAP = 0.2  # seconds between one resident's messages
# The number's throughput ours paces replies to (KYR_WHATSAPP_MPS; --mps). Meta gives a new
# number 80 messages a second and raises eligible ones to 1,000: at 80, about 1.6 replies a
# message cap ours at about 50 messages a second whatever the server can do; --mps 1000
# measures the server instead.
MPS = 80
CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "LOG_LEVEL": "WARNING", "RASA_TELEMETRY_ENABLED": "false",
             "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}


def graph_main(pipe: Any) -> None:
    """The Graph API double: who got what, when. In a process of its own, as the platform
    is: in the bench's, beside hundreds of residents' clients, it answered too slowly at
    1,000 sends a second. "When" is time.monotonic(), CLOCK_MONOTONIC on Linux, one clock
    for every process, as the bench's send times are (`Graph.start` checks)."""
    from aiohttp import web

    from tests.bench.doubles import serve_until_terminated

    got: list[tuple[str, str, float]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        text = body["text"]["body"] if body.get("type") == "text" else \
            body["interactive"]["body"]["text"]
        got.append((body["to"], text, time.monotonic()))
        return web.json_response({"messages": [{"id": f"wamid.{len(got)}"}]})

    async def count(request: web.Request) -> web.Response:
        return web.json_response(len(got))

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(got)

    app = web.Application()
    app.router.add_post("/v21.0/{phone}/messages", receive)
    app.router.add_get("/count", count)
    app.router.add_get("/stats", stats)
    # the port, and this process's clock (the bench checks both sides read the same one)
    asyncio.run(serve_until_terminated(app, lambda port: pipe.send((port, time.monotonic()))))


class Graph:
    """The bench's side of the double: start it, ask how many replies it has, and at the end
    who got what, when."""

    def __init__(self) -> None:
        self.port = 0
        self._process: Any = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=graph_main, args=(child,), daemon=True)
        before = time.monotonic()
        self._process.start()
        if not await asyncio.to_thread(parent.poll, 60):
            raise SystemExit("the Graph API double did not start")
        self.port, then = parent.recv()
        if not before <= then <= time.monotonic():
            raise SystemExit("the double's time.monotonic() is not the bench's: latencies would be wrong")
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    async def count(self) -> int:
        assert self._http is not None
        return int((await self._http.get("/count")).json())

    async def got(self) -> list[tuple[str, str, float]]:
        assert self._http is not None
        return [(to, text, at) for to, text, at in (await self._http.get("/stats")).json()]

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._process is not None:
            self._process.terminate()
            self._process.join(10)


@dataclass
class Run:
    name: str
    residents: int
    messages: int
    replies: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    late: int = 0
    other: int = 0
    acknowledged: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: list[float] = field(default_factory=list)
    note: str = ""

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else float("nan")


@dataclass(frozen=True)
class Tally:
    """One resident's replies against the baseline's, in replies (see `tally`)."""

    lost: int = 0
    late: int = 0
    dup: int = 0
    other: int = 0  # texts the baseline has for no message of the script
    reordered: bool = False


def tally(answers: Sequence[Sequence[str]], acked: Collection[int], texts: Sequence[str]) -> Tally:
    """`answers[n]`: the baseline's replies to message n (every message was sent); `acked`:
    the messages whose 200 the client saw; `texts`: the resident's replies as they arrived.

    The texts say which message they answer only when one message alone has them (the menu
    is every /menu's reply), so each text is counted, not matched: a = its replies among the
    acknowledged messages' answers, u = among the others', g = the resident got it. lost =
    a - g past 0; late = what g has past a, up to u; dup = g past a + u. Exact for a text one
    message alone has, and for any text when none of its messages lost or doubled a reply;
    else one message's lost reply and another's second one cancel: lost and dup are lower
    bounds."""
    want = Counter(t for n, replies in enumerate(answers) if n in acked for t in replies)
    spare = Counter(t for n, replies in enumerate(answers) if n not in acked for t in replies)
    got = Counter(texts)
    lost = late = dup = other = 0
    for text in want.keys() | spare.keys() | got.keys():
        a, u, g = want[text], spare[text], got[text]
        lost += max(0, a - g)
        late += min(u, max(0, g - a))
        if a or u:
            dup += max(0, g - a - u)
        else:
            other += g
    baseline = [t for replies in answers for t in replies]
    reordered = False
    if len(acked) == len(answers) and list(texts) != baseline and len(texts) >= len(baseline):
        # Duplicates aside, is the first occurrence order the baseline's?
        deduped = list(dict.fromkeys(texts))
        reordered = deduped[:len(set(baseline))] != list(dict.fromkeys(baseline))
    return Tally(lost, late, dup, other, reordered)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Sampler:
    """Peak RSS of a process tree, sampled every 0.5 s, per process id."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, {}  # type: ignore[var-annotated]
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            for pid in [self.pid, *children(self.pid)]:
                self.peak[pid] = max(self.peak.get(pid, 0.0), rss_mb(pid))
            await asyncio.sleep(0.5)

    def stop(self) -> list[float]:
        self.task.cancel()
        workers = [v for pid, v in self.peak.items() if pid != self.pid] or list(self.peak.values())
        return sorted(workers, reverse=True)


def webhook(user: str, text: str, n: int) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messages": [
            {"from": user, "id": f"wamid.bench.{user}.{n}", "timestamp": str(int(time.time())),
             "type": "text", "text": {"body": text}}]}}]}]}).encode()


def sign(body: bytes) -> dict[str, str]:
    import hashlib
    import hmac

    return {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


# The residents' side of a burst, for both servers alike: aiohttp, 100 connections. httpx's
# pool costs about 1.3 ms of CPU a request here (bot.channels.http), and this client shares
# the 2 cores with the server it measures: with httpx it used more CPU than either server.
LOAD_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def load_client(timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100),
                                 timeout=aiohttp.ClientTimeout(total=timeout),
                                 cookie_jar=aiohttp.DummyCookieJar())


async def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
    raise SystemExit("the server did not become healthy")


async def settle(graph: Graph, wanted: int, timeout: float) -> None:
    deadline, last, changed = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = await graph.count()
        if now != last:
            last, changed = now, time.monotonic()
        quiet = time.monotonic() - changed
        if (now >= wanted and quiet >= 1.0) or quiet >= 60.0:  # 1 s quiet when done; 60 s stuck
            return
        await asyncio.sleep(0.1)


async def ours(name: str, database_url: str, workers: int, residents: int, messages: int,
               folder: Path, crash: bool = False) -> Run:
    graph = Graph()
    await graph.start()
    port = free_port()
    env = {**os.environ, **CHILD_ENV, "DATABASE_URL": database_url, "KYR_SECRET_KEY": "bench",
           "KYR_DATA_DIR": str(folder), "KYR_LEASE_SECONDS": "10",
           "WHATSAPP_TOKEN": "T", "WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_APP_SECRET": SECRET,
           "WHATSAPP_VERIFY_TOKEN": "v", "WHATSAPP_API_BASE": f"http://127.0.0.1:{graph.port}/v21.0",
           "KYR_WHATSAPP_MPS": str(MPS)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    log = (folder / f"{name}.log").open("w")
    print(f"{name}: starting kyr serve --workers {workers}", file=sys.stderr, flush=True)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port),
                               "--workers", str(workers)], cwd=ROOT, env=env,
                              stdout=log, stderr=log, start_new_session=True)
    run = Run(name, residents, messages)
    script = SCRIPT[:messages]
    try:
        await wait_healthy(port, server)
        sampler = Sampler(server.pid)
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        async with load_client(30) as http:
            reference = "1555000000"
            expected: list[int] = []  # replies per message of the script, one at a time
            for n, text in enumerate(script):
                before = await graph.count()
                body = webhook(reference, text, n)
                async with http.post(url, data=body, headers=sign(body)) as response:
                    await response.read()
                await settle(graph, before + 1, 30)
                expected.append(await graph.count() - before)
            baseline = [t for to, t, _ in await graph.got() if to == reference]
            starts = [sum(expected[:k]) for k in range(len(script))]
            posted: dict[tuple[str, int], float] = {}
            print(f"{name}: {residents} residents x {messages} messages", file=sys.stderr, flush=True)

            async def resident(i: int) -> None:
                user = f"1556{i:06d}"
                await asyncio.sleep(random.random() * GAP)
                for n, text in enumerate(script):
                    body = webhook(user, text, n)
                    sent = time.monotonic()
                    try:
                        async with http.post(url, data=body, headers=sign(body)) as response:
                            await response.read()
                            if response.status == 200:
                                posted[(user, n)] = sent
                    except LOAD_ERRORS:
                        pass
                    await asyncio.sleep(GAP)

            began = time.monotonic()
            burst = asyncio.gather(*(resident(i) for i in range(residents)))
            if crash:
                await asyncio.sleep(3.0)
                victims = children(server.pid)
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    run.note = f"SIGKILLed worker {victims[0]} 3 s into the burst"
            await burst
            wanted = len(baseline) * (residents + 1)
            await settle(graph, wanted, 600)
            arrived = await graph.got()
            last = max((t for _, _, t in arrived), default=began)
            run.seconds = last - began
            run.peak_rss_mb = sampler.stop()
        run.acknowledged = len(posted)
        by_user: dict[str, list[tuple[str, float]]] = {}
        for to, text, at in arrived:
            by_user.setdefault(to, []).append((text, at))
        answers = [baseline[starts[n]:starts[n] + expected[n]] for n in range(len(script))]
        for i in range(residents):
            user = f"1556{i:06d}"
            got = by_user.get(user, [])
            run.replies += len(got)
            acked = [n for n in range(len(script)) if (user, n) in posted]
            texts = [t for t, _ in got]
            counted = tally(answers, acked, texts)
            run.lost += counted.lost
            run.late += counted.late
            run.duplicated += counted.dup
            run.other += counted.other
            run.reordered += counted.reordered
            if texts[:len(baseline)] == baseline:
                for n in acked:
                    run.latencies.append(got[starts[n]][1] - posted[(user, n)])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()
        await graph.stop()
    return run


async def stock(residents: int, messages: int, folder: Path) -> Run:
    from bot.engine.training import nlu_files
    from bot.settings import load_settings
    from tests.bench.stock import ensure_model

    model = ensure_model(nlu_files(load_settings({"KYR_HOME": str(ROOT)})), ROOT / "build" / "bench" / "stock")
    port = free_port()
    endpoints = folder / "endpoints.yml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {folder / 'stock.sqlite3'}\n")
    log = (folder / "stock.log").open("w")
    print("stock: starting rasa run", file=sys.stderr, flush=True)
    server = subprocess.Popen([sys.executable, "-m", "rasa", "run", "--enable-api", "-m", str(model),
                               "--port", str(port), "-i", "127.0.0.1", "--endpoints", str(endpoints)],
                              cwd=folder, env={**os.environ, **CHILD_ENV}, stdout=log, stderr=log,
                              start_new_session=True)
    run = Run("stock rasa run (SQLite)", residents, messages)
    script = SCRIPT[:messages]
    try:
        deadline = time.monotonic() + 300
        async with load_client(120) as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as response:
                        if response.status == 200:
                            break
                except LOAD_ERRORS:
                    await asyncio.sleep(1.0)
            sampler = Sampler(server.pid)
            url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"

            async def resident(i: int) -> None:
                await asyncio.sleep(random.random() * GAP)
                for text in script:
                    started = time.monotonic()
                    try:
                        async with http.post(url, json={"sender": f"s{i}", "message": text}) as response:
                            answer = await response.read()
                            if response.status == 200:
                                run.acknowledged += 1
                                run.replies += len(json.loads(answer))
                                run.latencies.append(time.monotonic() - started)
                            else:
                                run.lost += 1
                    except LOAD_ERRORS:
                        run.lost += 1
                    await asyncio.sleep(GAP)

            began = time.monotonic()
            await asyncio.gather(*(resident(i) for i in range(residents)))
            run.seconds = time.monotonic() - began
            run.peak_rss_mb = sampler.stop()
        run.note = "REST answers in the response; each resident waits for each answer"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    return run


def table(runs: list[Run]) -> str:
    lines = ["| run | acked | replies | lost | dup | late | reordered | p50 ms | p99 ms | msg/s | peak RSS MB per worker | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in runs:
        rss = ", ".join(f"{v:.0f}" for v in r.peak_rss_mb)
        note = "; ".join(filter(None, [r.note, f"{r.other} replies the baseline never sent"
                                       if r.other else ""]))
        lines.append(f"| {r.name} | {r.acknowledged} | {r.replies} | {r.lost} | {r.duplicated} | "
                     f"{r.late} | {r.reordered} | {r.pct(50):.0f} | {r.pct(99):.0f} | {r.rate:.1f} | "
                     f"{rss} | {note} |")
    return "\n".join(lines)


def ratios(runs: list[Run]) -> list[str]:
    """Ours against stock, msg/s, for each of our runs (when stock ran)."""
    stock_runs = [r for r in runs if r.name.startswith("stock")]
    if not stock_runs or not stock_runs[0].rate:
        return []
    base = stock_runs[0].rate
    return ["- msg/s, ours / stock: " + "; ".join(
        f"{r.name} {r.rate / base:.2f}x" for r in runs if not r.name.startswith("stock"))]


async def main_async(args: argparse.Namespace) -> int:
    random.seed(7)
    runs: list[Run] = []
    pg = args.postgres
    with tempfile.TemporaryDirectory(prefix="kyr-serving-") as tmp:
        folder = Path(tmp)

        def fresh_pg() -> str:
            import sqlalchemy as sa

            engine = sa.create_engine(pg, future=True)
            with engine.begin() as connection:  # every bot table: a run starts empty
                for (table_name,) in connection.execute(sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND (tablename LIKE 'kyr_%' OR tablename = 'alembic_version')")):
                    connection.execute(sa.text(f'DROP TABLE "{table_name}" CASCADE'))
            engine.dispose()
            return pg

        plan: list[tuple[str, Any, int, bool]] = [
            ("ours SQLite 1 worker", lambda: f"sqlite:///{folder / 'one.sqlite3'}", 1, False),
            ("ours PostgreSQL 1 worker", fresh_pg, 1, False),
            ("ours PostgreSQL 2 workers", fresh_pg, 2, False),
            ("ours PostgreSQL 2 workers, crash", fresh_pg, 2, True),
        ]
        if args.quick:
            plan = plan[:1]
        if args.runs:
            plan = [plan[int(i)] for i in args.runs.split(",")]
        for name, url, workers, crash in plan:
            runs.append(await ours(name, url(), workers, args.residents, args.messages, folder, crash))
            print(table(runs[-1:]), file=sys.stderr, flush=True)
        if not args.no_stock:
            runs.append(await stock(args.residents, args.messages, folder))
    report = "\n\n".join([
        f"## Serving: kyr serve vs stock rasa run ({args.residents} residents x {args.messages} "
        "messages, 127.0.0.1)", table(runs),
        f"- machine: nproc {os.cpu_count()}; script per resident: {SCRIPT[:args.messages]}, "
        f"{GAP} s apart, not waiting for answers (ours) / waiting (stock REST)",
        "- latency: ours = webhook POST to the first reply at the Graph API double; stock = "
        "the REST request; msg/s = acknowledged messages / (last reply - first POST)",
        f"- ours sends at most KYR_WHATSAPP_MPS={MPS} replies a second in all, shared by the "
        "workers (Meta's default per number is 80, raised to 1,000 for eligible numbers; at "
        "80 the pacing alone caps ours near 50 msg/s), about 1.6 replies per message here; "
        "stock REST sends nothing",
        *ratios(runs),
    ])
    print(report)
    out = ROOT / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.md").write_text(report + "\n", encoding="utf-8")
    return 0


def main() -> int:
    global MPS
    parser = argparse.ArgumentParser(prog="python -m tests.bench.serving", description=__doc__)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get(
        "KYR_BENCH_POSTGRES_URL", os.environ.get("KYR_TEST_POSTGRES_URL",
                                                 "postgresql://postgres@127.0.0.1:5432/test")))
    parser.add_argument("--quick", action="store_true", help="SQLite, 1 worker only")
    parser.add_argument("--no-stock", action="store_true")
    parser.add_argument("--mps", type=int, default=80,
                        help="KYR_WHATSAPP_MPS for ours (Meta's default for a number, 80; 1000 "
                        "for a raised one)")
    parser.add_argument("--runs", help="which of ours to run, e.g. 1,2,3 (0 SQLite, 1 PG, "
                        "2 PG 2 workers, 3 crash)")
    args = parser.parse_args()
    MPS = args.mps
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
