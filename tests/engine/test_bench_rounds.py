"""The engine bench's rounds: a conversation resumes where its last round stopped."""

import asyncio

import pytest

from tests.bench.child import Mode, Reply
from tests.bench.workload import ModeResult, Workload


class Recorder:
    """A bot whose every reply offers two buttons named after the turn."""

    opening_button = "/start"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def press(self, user: str, payload: str) -> Reply:
        self.seen.append((user, payload))
        n = sum(1 for u, _ in self.seen if u == user)
        return Reply(1, [f"/a{n}", f"/b{n}"])

    async def text(self, user: str, text: str) -> Reply:
        self.seen.append((user, text))
        return Reply(1, [])

    async def parse(self, text: str) -> Reply:
        return Reply(1, [])


def run_rounds(mode: str, workload: Workload, rounds: int) -> tuple[list, list[ModeResult]]:
    bot = Recorder()
    runner = Mode(bot, workload, mode, [f"phrase {i}" for i in range(7)])
    results = [asyncio.run(runner.round(workload.messages // rounds)) for _ in range(rounds)]
    return sorted(bot.seen), results


@pytest.mark.parametrize("mode", ["button", "text"])
def test_five_rounds_send_what_one_round_sends(mode: str) -> None:
    workload = Workload(conversations=3, messages=10, seed=7, rounds=5)
    one, [whole] = run_rounds(mode, workload, 1)
    five, parts = run_rounds(mode, workload, 5)
    assert five == one and len(one) == 30
    joined = ModeResult.joined(parts)
    assert joined.messages == whole.messages == 30
    assert len(joined.latencies_ms) == 30 and joined.empty_replies == 0
    assert joined.seconds == pytest.approx(sum(p.seconds for p in parts))


def test_rounds_must_divide_the_messages() -> None:
    with pytest.raises(ValueError, match="do not split"):
        Workload(conversations=3, messages=10, rounds=3)
