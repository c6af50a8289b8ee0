"""Webhooks through the edge into the inbox and out of the outbox, in-process with the real
engine and a Graph API test double: bad bodies, replays, stale messages, and order."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import defaultdict
from typing import Any, AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from bot.app.queue_tables import inbox as inbox_table
from bot.app.services import Services
from bot.channels.whatsapp.channel import WhatsAppChannel, signature
from bot.settings import Settings
from bot.web.app import channel_context, create_app
from bot.web.edge import MAX_BODY, nesting_depth
from tests.channels.fake_graph import FakeGraphAPI

SECRET, VERIFY = "edge-secret", "edge-verify"
_numbers = itertools.count(int(time.time()) % 1_000_000 * 100)


def number() -> str:
    return f"1773{next(_numbers):08d}"


def text_message(user: str, text: str, sent_at: float | None = None) -> dict[str, Any]:
    return {"from": user, "id": f"wamid.{user}.{next(_numbers)}", "type": "text",
            "timestamp": str(int(sent_at or time.time())), "text": {"body": text}}


def body_of(*messages: dict[str, Any], entries: list[Any] | None = None) -> bytes:
    value = {"messaging_product": "whatsapp", "messages": list(messages),
             "metadata": {"display_phone_number": "13125550100", "phone_number_id": "1"}}
    return json.dumps({"object": "whatsapp_business_account", "entry": (entries or []) + [
        {"id": "1", "changes": [{"field": "messages", "value": value}]}]}).encode()


def signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": signature(SECRET, body), "Content-Type": "application/json"}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    server = await FakeGraphAPI().start()
    yield server
    await server.stop()


@pytest.fixture
async def client(settings: Settings, services: Services,
                 graph: FakeGraphAPI) -> AsyncIterator[httpx.AsyncClient]:
    channel = WhatsAppChannel(channel_context(services), "TOKEN", "1", SECRET, VERIFY, graph.base())
    app = create_app(settings, env={}, services=services, channels={"whatsapp": channel})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://127.0.0.1") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


def replies(graph: FakeGraphAPI) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for m in graph.sent:
        out[m["to"]].append(m["text"]["body"] if m["type"] == "text"
                            else m["interactive"]["body"]["text"])
    return out


async def settle(graph: FakeGraphAPI, at_least: int, timeout: float = 30.0) -> None:
    """Until `at_least` sends arrived and nothing more came for half a second."""
    deadline, seen, quiet = time.monotonic() + timeout, -1, 0
    while time.monotonic() < deadline:
        count = len(graph.sent)
        quiet = quiet + 1 if count == seen else 0
        if count >= at_least and quiet >= 10:
            return
        seen = count
        await asyncio.sleep(0.05)


async def test_large_or_unsigned_bodies_are_refused_before_they_are_read(
        client: httpx.AsyncClient) -> None:
    pulled = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(100):  # 100 MB if anyone read it all
            pulled += 1
            yield b"x" * MAX_BODY

    response = await client.post("/webhooks/whatsapp", content=huge())
    assert response.status_code == 401 and pulled == 0  # no signature header: body unread
    fake = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = await client.post("/webhooks/whatsapp", content=huge(), headers=fake)
    assert response.status_code == 413 and pulled <= 2  # streamed: stops past the limit
    pulled = 0
    response = await client.post("/webhooks/whatsapp", content=b"{}",
                                 headers={**fake, "Content-Length": str(100 * MAX_BODY)})
    assert response.status_code == 413
    assert (await client.post("/webhooks/whatsapp", content=b"{}",
                              headers={"X-Hub-Signature-256": "md5=abc"})).status_code == 401
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"entry": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                  b"[]", b'"text"', b"not json", b"\xff\xfe"])
async def test_signed_but_bad_bodies_are_400_without_a_traceback(
        client: httpx.AsyncClient, body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 400
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": []}]}') == 4


async def test_malformed_pieces_are_skipped_and_the_good_message_answered(
        client: httpx.AsyncClient, graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture) -> None:
    user = number()
    junk = ["a string", {"changes": "not a list"}, {"changes": [{"value": [1, 2]}]},
            {"changes": [{"value": {"messages": [{"id": 5}, {"from": {"x": 1}, "id": "w"},
                                                 {"from": "1", "id": "w2", "type": "text",
                                                  "text": {"body": ["not", "text"]}},
                                                 "nonsense"],
                                    "statuses": [{"status": 3}]}}]}]
    body = body_of(text_message(user, "hola"), entries=junk)
    with caplog.at_level(logging.WARNING):
        response = await client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    assert response.status_code == 200
    await settle(graph, 1)
    assert replies(graph)[user], "the good message beside the malformed ones was not answered"
    assert not any(r.exc_info for r in caplog.records)
    counters = client.app.state.live.counters  # type: ignore[attr-defined]
    assert counters["whatsapp_webhooks_skipped"] >= 4


async def test_a_replayed_or_stale_message_is_recorded_not_answered(
        client: httpx.AsyncClient, graph: FakeGraphAPI, services: Services) -> None:
    user, old = number(), number()
    body = body_of(text_message(user, "hola"))
    for _ in range(3):  # Meta redelivers
        assert (await client.post("/webhooks/whatsapp", content=body,
                                  headers=signed(body))).status_code == 200
    stale = body_of(text_message(old, "hola", sent_at=time.time() - 3 * 86400))
    assert (await client.post("/webhooks/whatsapp", content=stale,
                              headers=signed(stale))).status_code == 200
    await settle(graph, 1)
    once = replies(graph)[user]
    assert once and old not in replies(graph)
    await asyncio.sleep(0.5)
    assert replies(graph)[user] == once  # the redeliveries added nothing
    with services.db.connect() as connection:
        states = [r.state for r in connection.execute(sa.select(inbox_table.c.state).where(
            inbox_table.c.conversation == services.residents.key("whatsapp", old)))]
    assert states == ["stale"]


async def test_a_burst_keeps_every_conversation_in_order(
        client: httpx.AsyncClient, graph: FakeGraphAPI) -> None:
    """Messages sent without waiting for replies are answered as if sent one by one."""
    script = ["hola", "/lang fr", "/menu", "/lang en", "/menu"]
    baseline = number()
    for text in script:  # one resident, waiting for each answer
        before = len(graph.sent)
        body = body_of(text_message(baseline, text))
        await client.post("/webhooks/whatsapp", content=body, headers=signed(body))
        await settle(graph, before + 1)
    expected = replies(graph)[baseline]
    assert len(expected) >= len(script)

    residents = [number() for _ in range(8)]

    async def burst(user: str) -> None:
        for text in script:
            body = body_of(text_message(user, text))
            assert (await client.post("/webhooks/whatsapp", content=body,
                                      headers=signed(body))).status_code == 200

    await asyncio.gather(*(burst(u) for u in residents))
    await settle(graph, len(expected) * (len(residents) + 1), timeout=60)
    got = replies(graph)
    for user in residents:
        assert got[user] == expected, f"resident {residents.index(user)} got replies out of order"


async def test_metrics_are_counted_in_the_database_and_not_public(
        settings: Settings, services: Services, client: httpx.AsyncClient) -> None:
    page = await client.get("/metrics")  # the ASGI client is loopback
    assert page.status_code == 200 and 'kyr_inbox{state="done"}' in page.text
    app = client.app  # type: ignore[attr-defined]
    outside = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 4000)),
                                base_url="http://bot.example.org")
    async with outside:
        assert (await outside.get("/metrics")).status_code == 403
    from dataclasses import replace

    guarded = create_app(replace(settings, metrics_token="s3cret"), env={}, services=services,
                         channels={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded),
                                 base_url="http://127.0.0.1") as http:
        assert (await http.get("/metrics")).status_code == 403
        assert (await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})).status_code == 200


def test_more_than_one_worker_needs_postgresql_and_telegram_webhooks(settings: Settings) -> None:
    from dataclasses import replace

    from bot.web.app import workers_refused

    assert workers_refused(settings, 1, {}) is None
    assert "PostgreSQL" in (workers_refused(settings, 2, {}) or "")
    pg = replace(settings, database_url="postgresql://db/kyr")
    assert workers_refused(pg, 2, {}) is None
    polling = workers_refused(pg, 2, {"TELEGRAM_BOT_TOKEN": "t"})
    assert polling and "TELEGRAM_WEBHOOK_URL" in polling
    assert workers_refused(pg, 2, {"TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_WEBHOOK_URL": "https://x"}) is None
