"""Platform limits, kept by token buckets, and HTTP client pools that cannot wedge.

Telegram: about 30 messages a second in all and 1 a second per chat (short bursts are
tolerated); WhatsApp Cloud API: the number's throughput, 80 messages a second by default
(KYR_WHATSAPP_MPS), and the pair rate to one user, about 1 per 6 s with bursts of up to
45 (error 131056; shared/reviews/peers-and-alerts.md).
The channel's limit is kept as a sliding window (`WindowLimit`): at most `rate` sends may
reach the platform in any one second, so the rate it observes per second is never above it
(a token bucket with a burst lets through burst + rate in a second). A send reaches the
platform somewhere between the moment it leaves and the moment its answer is back, so
each send holds its place in the window until its answer is back, and a second after.
Each chat has a token bucket (refills at `rate` a second up to `burst`). Bulk rows (alerts, priority BULK)
first pass a bulk bucket at a share of the limit (KYR_BULK_SHARE, 0.8 by default, the rule
Glific uses "to allow replies to come in"), then the channel's window like any send: bulk
never takes more than its share, and replies to residents, claimed first by the outbox,
always find the rest. The limits live in each worker process: with N workers each takes
1/N of the channel's rate (`Pacer.for_channel(..., workers=N)`).
A conversation's rows are sent one at a time (the outbox claim), so per-chat pacing holds
within a worker; across workers a chat can briefly see up to N times its rate.

The wedge this replaces: every message sent its replies at once through one unbounded
pool, whose scheduling slowed quadratically as requests queued. A pool here is bounded
(connections = the sender's concurrency), has timeouts, is one per channel and reused.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional


# (overall msgs/s, overall burst, per chat msgs/s, per chat burst)
LIMITS: dict[str, tuple[float, float, float, float]] = {
    "telegram": (30.0, 30.0, 1.0, 3.0),
    "whatsapp": (80.0, 80.0, 1.0 / 6.0, 45.0),
}
DEFAULT = (20.0, 20.0, 1.0, 3.0)
BULK_SHARE = 0.8  # of the channel's limit, for bulk rows (KYR_BULK_SHARE)


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs a positive rate and room for one token")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.stamp = clock()

    def delay(self) -> float:
        """Take a token now and say how long to wait for it (0 if it was there)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0  # may go negative: later callers queue behind this one
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class WindowLimit:
    """At most `rate` sends reach the platform in any `window` seconds, however late each
    one travels.

    The platform counts a send when it arrives, which is after it was taken here and
    before its answer came back, by an amount that varies (a loaded event loop, the
    network): measured, two sends taken 1.05 s apart here reached a strict double 0.99 s
    apart, and it refused one in 200. So a send counts against the window from `take()`
    until `window` seconds after its `release()` (the answer back, or the send given up).
    A new send may go when fewer than `rate` sends count at that moment: any `window` of
    arrivals then holds at most `rate` of them, whatever each one's travel time."""

    def __init__(self, rate: float, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or window <= 0:
            raise ValueError("a window limit needs a positive rate and window")
        if rate * window < 1:  # slower than one a window: one per 1/rate seconds
            window = 1.0 / rate
        self.size = int(rate * window + 1e-9)
        self.rate = self.size / window
        self.window = window
        self.clock = clock
        self.in_flight = 0
        self.released: deque[float] = deque()  # when each recent send's answer came back

    def _counting(self, now: float) -> int:
        while self.released and self.released[0] <= now - self.window:
            self.released.popleft()
        return self.in_flight + len(self.released)

    def free_in(self) -> float:
        """Seconds until a send may go, taking nothing (0: now; infinity: only when a send
        in flight is released)."""
        now = self.clock()
        over = self._counting(now) - self.size  # >= 0: this many more must stop counting
        if over < 0:
            return 0.0
        if over < len(self.released):
            return self.released[over] + self.window - now
        return math.inf

    def take(self) -> None:
        """A send goes now; `release()` it when its answer is back (or it was given up)."""
        self.in_flight += 1

    def release(self) -> None:
        if self.in_flight <= 0:
            raise RuntimeError("released a send that was not taken")
        self.in_flight -= 1
        self.released.append(self.clock())


class KeyedBuckets:
    """One bucket per chat, the least recently used forgotten past `size` chats."""

    def __init__(self, rate: float, burst: float, size: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.size, self.clock = rate, burst, size, clock
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def delay(self, key: str) -> float:
        bucket = self.buckets.pop(key, None) or TokenBucket(self.rate, self.burst, self.clock)
        self.buckets[key] = bucket
        if len(self.buckets) > self.size:
            self.buckets.popitem(last=False)
        return bucket.delay()


@dataclass
class Pacer:
    overall: WindowLimit | TokenBucket
    per_chat: KeyedBuckets
    bulk: Optional[TokenBucket] = None  # None: bulk rows pace like any other
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # a test's virtual clock
    _released: Optional[asyncio.Event] = field(default=None, init=False, repr=False)

    @classmethod
    def for_channel(cls, channel: str, workers: int = 1, rate: float | None = None,
                    bulk_share: float = BULK_SHARE,
                    clock: Callable[[], float] = time.monotonic) -> "Pacer":
        """The channel's limits, with the overall rate shared out among `workers`, and
        bulk rows held to `bulk_share` of it (smoothly: one at a time, no burst)."""
        total, _burst, chat_rate, chat_burst = LIMITS.get(channel, DEFAULT)
        total = rate or total
        share = max(total / max(workers, 1), 0.1)
        if not 0 < bulk_share <= 1:
            raise ValueError("the bulk share is a fraction of the limit: above 0, at most 1")
        return cls(WindowLimit(share, clock=clock),
                   KeyedBuckets(chat_rate, chat_burst, clock=clock),
                   TokenBucket(max(share * bulk_share, 0.05), 1.0, clock))

    async def wait(self, chat: str, bulk: bool = False) -> None:
        """Return when a message to `chat` may go, under every limit; the caller sends it
        and then calls `sent()`, whatever became of it (try/finally).

        One limit after the other, the channel's window last: a place in the window is
        taken at the moment it is used, so a row waiting in the bulk lane or for its chat
        never holds a place a reply could have had."""
        if bulk and self.bulk is not None:
            await self._pause(self.bulk.delay())
        await self._pause(self.per_chat.delay(chat))
        if not isinstance(self.overall, WindowLimit):
            await self._pause(self.overall.delay())
            return
        # Last, and checked when awake: a place is taken at the moment the send goes, not
        # when it was planned, so sends that a busy event loop woke late cannot bunch up
        # past the limit (measured: 189 refusals from a strict double in 5,000 sends).
        for _ in range(10_000):
            wait = self.overall.free_in()
            if wait <= 0:
                break
            if wait == math.inf:  # every place is held by a send still travelling
                await self._a_send_released()
            else:
                await self.sleep(wait)
        self.overall.take()

    def sent(self) -> None:
        """The message `wait()` let go is answered, refused or given up: its place in the
        window now runs out a window from now."""
        if isinstance(self.overall, WindowLimit):
            self.overall.release()
            if self._released is not None:
                self._released.set()
                self._released = None

    async def _a_send_released(self) -> None:
        if self._released is None:
            self._released = asyncio.Event()
        try:  # bounded: a release that never came (a bug) costs a second, not the sender
            await asyncio.wait_for(self._released.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await self.sleep(seconds)
