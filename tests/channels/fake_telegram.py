"""A Telegram Bot API test server on 127.0.0.1: records every call, serves getUpdates."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.channels.local_server import LocalServer

BOT_USER = {"id": 6000000001, "is_bot": True, "first_name": "Derechos", "username": "kyr_demo_bot",
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str


@dataclass
class FakeBotAPI(LocalServer):
    calls: list[Call] = field(default_factory=list)
    updates: asyncio.Queue = field(default_factory=asyncio.Queue)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {len(self.of(method))} times, wanted {count}; "
                                     f"calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.05)
        return self.of(method)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {}
            for key, value in (await request.post()).items():
                try:
                    params[key] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
                except ValueError:
                    params[key] = value
        self.calls.append(Call(method, params, request.match_info["token"]))
        return web.json_response({"ok": True, "result": await self._result(method, params)})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            try:
                first = await asyncio.wait_for(self.updates.get(), timeout=1.0)
            except asyncio.TimeoutError:
                return []
            batch = [first]
            while not self.updates.empty():
                batch.append(self.updates.get_nowait())
            return batch
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            return {"message_id": next(self._ids), "date": int(time.time()), "text": params.get("text", ""),
                    "chat": {"id": int(params.get("chat_id", 0)), "type": "private"}, "from": BOT_USER}
        return True
