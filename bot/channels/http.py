"""The one HTTP client a channel keeps: bounded connections, timeouts on every phase, so
a burst of sends queues in the outbox instead of wedging a pool (issue 12's profile).
httpx's transport needs `sniffio` installed to be cheap (pyproject.toml says why)."""

from __future__ import annotations

from typing import Mapping

import httpx

from bot.core.delivery import CONNECTIONS
from bot.core.media import Unavailable, check_size, declared_size, too_large

TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=10.0)


def http_client(connections: int = CONNECTIONS, **kwargs: object) -> httpx.AsyncClient:
    """One per channel, reused."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


async def download(client: httpx.AsyncClient, url: str, limit: int,
                   headers: Mapping[str, str] | None = None) -> bytes:
    """A platform's file, at most `limit` bytes: refused from a declared Content-Length
    over it, and cut off as soon as the stream passes it (a server may not declare, or
    lie). Raises TooLarge or Unavailable (never with the URL: it can carry the token)."""
    try:
        async with client.stream("GET", url, headers=dict(headers or {})) as response:
            if response.status_code != 200:
                raise Unavailable(f"the platform answered HTTP {response.status_code}")
            check_size(declared_size(response.headers.get("content-length")), limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise Unavailable(f"the download failed ({type(exc).__name__})") from None
    return b"".join(chunks)
