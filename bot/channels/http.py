"""The HTTP clients a channel keeps: bounded connections, timeouts on every phase, so a
burst of sends queues in the outbox instead of wedging a pool (issue 12's profile).

Two kinds: `http_client` (httpx) for files and the odd call, and `Poster` (aiohttp) for
the sends a burst is made of. One POST to a local Graph API double cost 1.34 ms of CPU
through httpx 0.28 (its connection pool scans every connection for every request) and
0.13 ms through aiohttp 3.9, 16 in flight either way; in a `kyr serve` profile of a burst,
httpx was two fifths of the server's time. aiohttp is already installed (Rasa needs it).
httpx's transport needs `sniffio` installed to be cheap (pyproject.toml says why)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import aiohttp
import httpx

from bot.core.delivery import CONNECTIONS
from bot.core.media import Unavailable, check_size, declared_size, too_large

TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=10.0)


# aiohttp's `connect` includes the wait for a free connection (httpx's `pool`).
POST_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=15.0, sock_connect=5.0, sock_read=10.0)
MAX_ANSWER = 64 * 1024  # bytes of a platform's answer to a send that are read (its error code)


class PostFailed(Exception):
    """The request did not get an answer (network, timeout); the message says which, never
    the URL (it can carry a token)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        """The answer's JSON, or None when it is not JSON (a proxy's error page, say)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Poster:
    """JSON POSTs over one reused aiohttp session: at most `connections` at once (the rest
    wait for one, up to the timeout), no cookies kept, no proxy settings read from the
    environment. `start()` inside the running loop, `stop()` at shutdown."""

    def __init__(self, connections: int = CONNECTIONS) -> None:
        self.connections = connections
        self.session: Optional[aiohttp.ClientSession] = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections)
        self.session = aiohttp.ClientSession(connector=connector, timeout=POST_TIMEOUT,
                                             cookie_jar=aiohttp.DummyCookieJar())

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post_json(self, url: str, payload: Any, headers: Mapping[str, str]) -> Answer:
        if self.session is None:
            raise RuntimeError("start() the poster before posting")
        try:
            async with self.session.post(url, json=payload, headers=dict(headers)) as response:
                return Answer(response.status, await response.content.read(MAX_ANSWER))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise PostFailed(type(exc).__name__) from None


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
