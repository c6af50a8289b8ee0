"""Platform limits, kept by token buckets, and HTTP client pools that cannot wedge.

Telegram: about 30 messages a second in all and 1 a second per chat (short bursts are
tolerated); WhatsApp Cloud API: the number's throughput, 80 messages a second by default
(KYR_WHATSAPP_MPS), and the pair rate to one user, about 1 per 6 s with bursts of up to
45 (error 131056; shared/reviews/peers-and-alerts.md).
A bucket refills at `rate` tokens a second up to `burst`; a send waits for one token from
the channel's bucket and one from its chat's bucket. Buckets live in each worker process:
with N workers each takes 1/N of the channel's rate (`Pacer.for_channel(..., workers=N)`).
A conversation's rows are sent one at a time (the outbox claim), so per-chat pacing holds
within a worker; across workers a chat can briefly see up to N times its rate.

The wedge this replaces: every message sent its replies at once through one unbounded
pool, whose scheduling slowed quadratically as requests queued. A pool here is bounded
(connections = the sender's concurrency), has timeouts, is one per channel and reused.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


# (overall msgs/s, overall burst, per chat msgs/s, per chat burst)
LIMITS: dict[str, tuple[float, float, float, float]] = {
    "telegram": (30.0, 30.0, 1.0, 3.0),
    "whatsapp": (80.0, 80.0, 1.0 / 6.0, 45.0),
}
DEFAULT = (20.0, 20.0, 1.0, 3.0)


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


class KeyedBuckets:
    """One bucket per chat, the least recently used forgotten past `size` chats."""

    def __init__(self, rate: float, burst: float, size: int = 50_000) -> None:
        self.rate, self.burst, self.size = rate, burst, size
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def delay(self, key: str) -> float:
        bucket = self.buckets.pop(key, None) or TokenBucket(self.rate, self.burst)
        self.buckets[key] = bucket
        if len(self.buckets) > self.size:
            self.buckets.popitem(last=False)
        return bucket.delay()


@dataclass
class Pacer:
    overall: TokenBucket
    per_chat: KeyedBuckets

    @classmethod
    def for_channel(cls, channel: str, workers: int = 1, rate: float | None = None) -> "Pacer":
        """The channel's limits, with the overall rate shared out among `workers`."""
        total, burst, chat_rate, chat_burst = LIMITS.get(channel, DEFAULT)
        total = rate or total
        share = max(total / max(workers, 1), 0.1)
        return cls(TokenBucket(share, max(1.0, min(burst, total) / max(workers, 1))),
                   KeyedBuckets(chat_rate, chat_burst))

    async def wait(self, chat: str) -> None:
        """Return when a message to `chat` may go, under both limits."""
        wait = max(self.per_chat.delay(chat), self.overall.delay())
        if wait > 0:
            await asyncio.sleep(wait)
