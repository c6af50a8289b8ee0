"""Platform limits, kept by token buckets, and HTTP client pools that cannot wedge.

Telegram: about 30 messages a second in all and 1 a second per chat (short bursts are
tolerated); WhatsApp Cloud API: the number's throughput, 80 messages a second by default
(KYR_WHATSAPP_MPS), and the pair rate to one user, about 1 per 6 s with bursts of up to
45 (error 131056; shared/reviews/peers-and-alerts.md).
The channel's limit is kept as a sliding window (`WindowLimit`): at most `rate` sends are
let go in any one second, so the rate a platform observes per second is never above it
(a token bucket with a burst lets through burst + rate in a second). Each chat has a
token bucket (refills at `rate` a second up to `burst`). Bulk rows (alerts, priority BULK)
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
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional


# (overall msgs/s, overall burst, per chat msgs/s, per chat burst)
LIMITS: dict[str, tuple[float, float, float, float]] = {
    "telegram": (30.0, 30.0, 1.0, 3.0),
    "whatsapp": (80.0, 80.0, 1.0 / 6.0, 45.0),
}
DEFAULT = (20.0, 20.0, 1.0, 3.0)
# The platform counts a second by when requests reach it, and a send taken from our window
# reaches it a few milliseconds later, by a varying amount: two sends a second apart here
# can arrive 0.99 s apart there. Our window is this much longer than the platform's second
# (a strict double refused 1 send in 200 at exactly 1.0 s in a CI run).
WINDOW_MARGIN = 0.05
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
    """At most `rate` grants in any `window` seconds (a sliding log of the last grants).

    `delay()` has TokenBucket's contract: it takes a grant now and says how long to wait
    for it; later callers queue behind. A grant is a moment at least `window` after the
    grant `rate` places earlier, and never before the previous grant."""

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
        self.grants: deque[float] = deque(maxlen=self.size)

    def delay(self) -> float:
        now = self.clock()
        at = now
        if self.grants:
            at = max(at, self.grants[-1])
            if len(self.grants) == self.size:
                at = max(at, self.grants[0] + self.window)
        self.grants.append(at)
        return at - now

    def free_in(self) -> float:
        """Seconds until a send may go, taking nothing (0: now)."""
        if len(self.grants) < self.size:
            return 0.0
        return max(0.0, self.grants[0] + self.window - self.clock())

    def take(self) -> None:
        """A send goes now: its place is the moment it really went."""
        self.grants.append(max(self.clock(), self.grants[-1] if self.grants else 0.0))


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
        window = 1.0 + WINDOW_MARGIN  # the same number of sends, in a slightly longer window
        return cls(WindowLimit(share / window, window=window, clock=clock),
                   KeyedBuckets(chat_rate, chat_burst, clock=clock),
                   TokenBucket(max(share * bulk_share, 0.05), 1.0, clock))

    async def wait(self, chat: str, bulk: bool = False) -> None:
        """Return when a message to `chat` may go, under every limit.

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
            await self.sleep(wait)
        self.overall.take()

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await self.sleep(seconds)
