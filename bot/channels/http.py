"""The one HTTP client a channel keeps: bounded connections, timeouts on every phase, so
a burst of sends queues in the outbox instead of wedging a pool (issue 12's profile)."""

from __future__ import annotations

import httpx

from bot.core.delivery import CONNECTIONS

TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=10.0)


def http_client(connections: int = CONNECTIONS, **kwargs: object) -> httpx.AsyncClient:
    """One per channel, reused."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]
