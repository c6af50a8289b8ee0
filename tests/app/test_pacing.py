"""Pacing on a virtual clock: the channel's limit per second is never passed, bulk keeps to
its share, and replies sent during a broadcast wait no longer than the limit makes them."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from bot.app.pacing import WINDOW_MARGIN, Pacer, TokenBucket, WindowLimit


class VirtualTime:
    """A clock and a sleep for many tasks: the earliest sleeper wakes first, no real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self.order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.sleepers, (self.now + seconds, next(self.order), future))
        await future

    async def run(self, until: float) -> None:
        """Let every task run until all sleep, wake the earliest; up to `until`."""
        while True:
            for _ in range(50):  # let ready tasks reach their next sleep
                await asyncio.sleep(0)
            if not self.sleepers or self.sleepers[0][0] > until:
                return
            at, _, future = heapq.heappop(self.sleepers)
            self.now = max(self.now, at)
            future.set_result(None)


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0 - 1e-9:  # the half-open window (t - 1, t]
            start += 1
        best = max(best, end - start + 1)
    return best


def test_window_limit_never_grants_more_than_the_rate_in_any_second() -> None:
    now = [0.0]
    limit = WindowLimit(30.0, clock=lambda: now[0])
    grants = []
    for i in range(300):  # callers arriving faster than the limit, in bursts
        now[0] = i * 0.01
        grants.append(now[0] + limit.delay())
    assert most_in_a_second(grants) == 30
    assert grants == sorted(grants)
    assert grants[-1] == pytest.approx(9.0 + 0.29, abs=0.05)  # 30 a second, not slower


def test_a_token_bucket_with_a_burst_would_let_more_through() -> None:
    """Why the channel's limit is a window: burst + rate in one second."""
    now = [0.0]
    bucket = TokenBucket(30.0, 30.0, clock=lambda: now[0])
    grants = [now[0] + bucket.delay() for _ in range(100)]
    assert most_in_a_second(grants) > 30


def test_a_slow_limit_spaces_its_grants() -> None:
    now = [0.0]
    limit = WindowLimit(0.5, clock=lambda: now[0])
    assert [limit.delay(), limit.delay(), limit.delay()] == [0.0, 2.0, 4.0]


def run_pacer(pacer: Pacer, time: VirtualTime, seconds: float, senders: int,
              reply_every: float) -> tuple[list[float], list[float], list[float]]:
    """Bulk rows from `senders` concurrent slots (the outbox sender's concurrency) and a
    reply every `reply_every` seconds: (bulk send times, reply send times, reply waits)."""
    bulk: list[float] = []
    replies: list[float] = []
    waits: list[float] = []
    counter = itertools.count()

    async def bulk_slot() -> None:
        while time.now < 1000.0 + seconds:
            await pacer.wait(f"chat-{next(counter)}", bulk=True)  # one message per chat
            bulk.append(time.now)

    async def replying() -> None:
        while time.now < 1000.0 + seconds:
            asked = time.now
            await pacer.wait(f"resident-{next(counter)}")
            replies.append(time.now)
            waits.append(time.now - asked)
            await time.sleep(reply_every)

    async def main() -> None:
        tasks = [asyncio.create_task(bulk_slot()) for _ in range(senders)]
        tasks.append(asyncio.create_task(replying()))
        await time.run(1000.0 + seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return bulk, replies, waits


@pytest.mark.parametrize("channel,limit", [("telegram", 30.0), ("whatsapp", 80.0)])
def test_bulk_keeps_to_its_share_and_the_total_to_the_limit(channel: str, limit: float) -> None:
    time = VirtualTime()
    pacer = Pacer.for_channel(channel, bulk_share=0.8, clock=time.clock)
    pacer.sleep = time.sleep
    bulk, replies, waits = run_pacer(pacer, time, 20.0, senders=16, reply_every=0.25)
    assert most_in_a_second(bulk + replies) <= limit
    assert most_in_a_second(bulk) <= 0.8 * limit + 1
    assert len(bulk) / 20.0 == pytest.approx(0.8 * limit, rel=0.05)  # the share is used, all of it
    assert len(replies) >= 70 and max(waits) < 0.1  # headroom: a reply does not queue behind bulk


def test_replies_alone_may_use_the_whole_limit() -> None:
    time = VirtualTime()
    pacer = Pacer.for_channel("telegram", bulk_share=0.5, clock=time.clock)
    pacer.sleep = time.sleep
    sent: list[float] = []

    async def main() -> None:
        async def one(k: int) -> None:
            await pacer.wait(f"r{k}")
            sent.append(time.now)
        tasks = [asyncio.create_task(one(k)) for k in range(90)]
        await time.run(2000.0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert most_in_a_second(sent) == 30
    # 90 at 30 a window: 3 windows, each a little longer than the platform's second
    assert max(sent) - min(sent) == pytest.approx(2 * (1 + WINDOW_MARGIN), abs=0.01)


def test_workers_share_the_limit() -> None:
    pacer = Pacer.for_channel("whatsapp", workers=2, rate=80.0)
    assert isinstance(pacer.overall, WindowLimit) and pacer.overall.size == 40  # a window each
    assert pacer.overall.window == pytest.approx(1 + WINDOW_MARGIN)
    assert pacer.bulk is not None and pacer.bulk.rate == pytest.approx(32.0)
    with pytest.raises(ValueError):
        Pacer.for_channel("whatsapp", bulk_share=1.5)
