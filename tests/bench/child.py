"""One bot in a fresh process: `python -m tests.bench.child ours|stock DIR WORKLOAD [MODEL]`.

stdout carries only the protocol: `ready` once the first reply is back (the parent times
cold start up to it); then, for each line the parent writes on stdin, `round <json>` for a
mode's name (one round of that mode: every conversation sends its next
`workload.messages // workload.rounds` messages) or `result <json>` for `end`. The parent
alternates the two bots round by round, so a change in the machine's speed falls on both.
Everything else, C-level output included, goes to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Callable, Protocol, TextIO

from bot.core.messages import InboundMessage
from tests.bench.workload import MODES, ChildResult, ModeResult, Workload, heldout_phrases

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Reply:
    messages: int
    buttons: list[str]  # payloads of every button in the reply


class Bot(Protocol):
    opening_button: str  # the first press of a button conversation

    async def text(self, user: str, text: str) -> Reply: ...

    async def press(self, user: str, payload: str) -> Reply: ...

    async def parse(self, text: str) -> Reply: ...


class OurBot:
    opening_button = "/menu"

    def __init__(self, folder: Path) -> None:
        from bot.app.services import build, settle
        from bot.settings import load_settings

        self.services = build(load_settings({
            "KYR_HOME": str(ROOT), "KYR_DATA_DIR": str(folder),
            "KYR_MODEL_DIR": str(ROOT / "build" / "model"),
        }))
        settle()  # as kyr serve does once its services are built

    async def text(self, user: str, text: str) -> Reply:
        return await self._send(InboundMessage("console", user, text=text))

    async def press(self, user: str, payload: str) -> Reply:
        return await self._send(InboundMessage("console", user, payload=payload))

    async def parse(self, text: str) -> Reply:
        """What `kyr parse` does per line: NLU and language detection."""
        result = await self.services.engine.agent.parse_message(text)
        if self.services.engine.detector is not None:
            self.services.engine.detector.detect(text)
        return Reply(1 if result.get("intent") else 0, [])

    async def _send(self, inbound: InboundMessage) -> Reply:
        replies = await self.services.conversation.handle(inbound)
        return Reply(len(replies), [b.payload for r in replies for b in r.buttons])


class StockBot:
    """Rasa's own Agent, SQLTrackerStore on SQLite, CollectingOutputChannel."""

    opening_button = "/greet"

    def __init__(self, folder: Path, model: str) -> None:
        from rasa.core.agent import Agent
        from rasa.core.tracker_store import SQLTrackerStore

        store = SQLTrackerStore(dialect="sqlite", db=str(folder / "stock.sqlite3"))
        self.agent = Agent.load(model, tracker_store=store)
        if not self.agent.is_ready():
            raise SystemExit(f"the stock model at {model} could not be loaded")
        if any(name.startswith("bot.engine") for name in sys.modules):
            raise SystemExit("bot.engine was imported: its Rasa patches would taint 'stock'")

    async def text(self, user: str, text: str) -> Reply:
        return await self._send(user, text, None)

    async def press(self, user: str, payload: str) -> Reply:
        parse_data = {"intent": {"name": payload.removeprefix("/"), "confidence": 1.0},
                      "entities": [], "text": payload}
        return await self._send(user, payload, parse_data)

    async def parse(self, text: str) -> Reply:
        result = await self.agent.parse_message(text)
        return Reply(1 if result.get("intent") else 0, [])

    async def _send(self, user: str, text: str, parse_data: dict[str, Any] | None) -> Reply:
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

        channel = CollectingOutputChannel()
        await self.agent.handle_message(
            UserMessage(text, channel, sender_id=user, parse_data=parse_data))
        return Reply(len(channel.messages),
                     [b["payload"] for m in channel.messages for b in m.get("buttons") or []])


class Mode:
    """One mode's conversations, kept between rounds: each resumes where the last stopped."""

    def __init__(self, bot: Bot, workload: Workload, mode: str, phrases: list[str]) -> None:
        self.bot, self.workload, self.mode, self.phrases = bot, workload, mode, phrases
        self.rngs = [random.Random(f"{workload.seed}-{mode}-{i}")
                     for i in range(workload.conversations)]
        self.payloads = [bot.opening_button] * workload.conversations
        self.sent = [0] * workload.conversations

    async def round(self, messages: int) -> ModeResult:
        """All conversations at once, each sending its next `messages` one after another."""
        latencies: list[float] = []
        empty = 0

        async def converse(i: int) -> None:
            nonlocal empty
            bot, user = self.bot, f"{self.mode}-{i}"
            for _ in range(messages):
                j = self.sent[i]
                phrase = self.phrases[(i * self.workload.messages + j) % len(self.phrases)]
                started = perf_counter()
                if self.mode == "button":
                    reply = await bot.press(user, self.payloads[i])
                elif self.mode == "parse":
                    reply = await bot.parse(phrase)
                else:
                    reply = await bot.text(user, phrase)
                latencies.append((perf_counter() - started) * 1000)
                empty += reply.messages == 0
                self.sent[i] = j + 1
                self.payloads[i] = (self.rngs[i].choice(reply.buttons) if reply.buttons
                                    else bot.opening_button)

        started = perf_counter()
        await asyncio.gather(*(converse(i) for i in range(self.workload.conversations)))
        return ModeResult(len(latencies), perf_counter() - started, latencies, empty)


async def run(bot_factory: Callable[[], Bot], workload: Workload, protocol: TextIO,
              commands: TextIO) -> None:
    bot: Bot = bot_factory()
    if (await bot.text("cold-start", "hi")).messages == 0:
        raise SystemExit("no reply to the first message")
    say(protocol, "ready")
    phrases = heldout_phrases(workload.seed)
    modes = {mode: Mode(bot, workload, mode, phrases) for mode in MODES}
    per_round = workload.messages // workload.rounds
    for line in commands:
        command = line.strip()
        if command == "end":
            break
        say(protocol, "round " + (await modes[command].round(per_round)).to_json())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux (before relay)
    relay: list[float] = []
    if isinstance(bot, OurBot):  # the stock agent has no staff console to relay from
        from tests.bench.relay import measure_relay

        relay = await measure_relay(bot.services)
    say(protocol, "result " + ChildResult({}, peak_kb / 1024, relay_ms=relay).to_json())


def say(protocol: TextIO, line: str) -> None:
    protocol.write(line + "\n")
    protocol.flush()


def quiet() -> None:
    import structlog

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main(argv: list[str]) -> None:
    kind, folder, workload = argv[0], Path(argv[1]), Workload.from_json(argv[2])
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # libraries that print, in Python or C, print to stderr
    sys.stdout = sys.stderr
    quiet()
    factories: dict[str, Callable[[], Bot]] = {
        "ours": lambda: OurBot(folder), "stock": lambda: StockBot(folder, argv[3])}
    asyncio.run(run(factories[kind], workload, protocol, sys.stdin))


if __name__ == "__main__":
    main(sys.argv[1:])
