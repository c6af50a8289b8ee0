"""A WhatsApp Cloud API (Graph API) test server on 127.0.0.1: records sends, scripted failures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.channels.local_server import LocalServer


@dataclass
class FakeGraphAPI(LocalServer):
    sent: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # status codes to answer next, then 200
    error_code: int | None = None  # Meta's error code in scripted failures (default 131000 + status)
    attempts: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v21.0/{phone_id}/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.auth.append(request.headers.get("Authorization", ""))
        body = await request.json()
        if self.script:
            status = self.script.pop(0)
            code = self.error_code if self.error_code is not None else 131000 + status
            return web.json_response({"error": {"message": "scripted", "code": code}},
                                     status=status)
        self.sent.append(body)
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"wa_id": body["to"]}],
                                  "messages": [{"id": f"wamid.sent{next(self._ids)}"}]})
