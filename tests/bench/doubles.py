"""What the benches' platform doubles share: an aiohttp app served on 127.0.0.1 in a
process of its own (so the bench's own load cannot slow the platform down), until the
bench terminates that process."""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web


async def serve_until_terminated(app: web.Application, ready: Callable[[int], None]) -> None:
    """Serve `app` on a free loopback port, tell `ready` the port, then wait to be killed."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.sleep(3600)  # the bench terminates this process when done
