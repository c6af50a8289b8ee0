"""WhatsApp Cloud API: signed webhooks in, Graph API messages out, against a test server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import zlib
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import sqlalchemy as sa

from bot.channels.whatsapp.channel import WhatsAppChannel, signature
from bot.core.messages import Button, InboundMessage, OutboundMessage
from bot.app.services import Services
from bot.web.app import channel_context
from bot.settings import PROJECT_ROOT
from bot.storage.db import addresses, deliveries
from tests.channels.fake_graph import FakeGraphAPI
from tests.channels.test_telegram import free_port, wait_healthy
from tests.conftest import platform_fixtures

SECRET, VERIFY = "app-secret-for-tests", "verify-me"


def fixture(name: str, salt: str = "") -> dict[str, Any]:
    data = json.loads((platform_fixtures("whatsapp") / f"{name}.json").read_text())
    for entry in data["entry"]:
        for change in entry["changes"]:
            for message in change["value"].get("messages", []):
                message["id"] += salt  # fresh ids per test: the processed-once table persists
    return data


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    server = await FakeGraphAPI().start()
    yield server
    await server.stop()


@pytest.fixture
async def channel(services: Services, graph: FakeGraphAPI) -> AsyncIterator[WhatsAppChannel]:
    whatsapp = WhatsAppChannel(channel_context(services), "TOKEN", "106540352242922", SECRET, VERIFY, graph.base())
    await whatsapp.start()
    yield whatsapp
    await whatsapp.stop()


def texts(graph: FakeGraphAPI) -> list[str]:
    return [m["text"]["body"] if m["type"] == "text" else m["interactive"]["body"]["text"] for m in graph.sent]


async def test_arabic_text_gets_arabic_guidance(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                services: Services) -> None:
    await channel.process(fixture("text_ar", "-1"))
    assert graph.sent and all(m["to"] == "17735550111" for m in graph.sent)
    assert graph.auth and all(a == "Bearer TOKEN" for a in graph.auth)
    assert services.renderer.text("ar", "ui.greeting") in texts(graph)
    last = graph.sent[-1]
    assert last["type"] == "interactive"
    limits(last)


def limits(message: dict[str, Any]) -> None:
    interactive = message["interactive"]
    assert len(interactive["body"]["text"]) <= 1024
    if interactive["type"] == "button":
        buttons = interactive["action"]["buttons"]
        assert 1 <= len(buttons) <= 3 and all(len(b["reply"]["title"]) <= 20 for b in buttons)
    else:
        assert len(interactive["action"]["button"]) <= 20
        rows = [r for s in interactive["action"]["sections"] for r in s["rows"]]
        assert 4 <= len(rows) <= 10 and all(len(r["title"]) <= 24 for r in rows)


@pytest.mark.parametrize("name", ["image", "audio", "location", "unsupported"])
async def test_media_and_unsupported_get_the_text_only_answer(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                              services: Services, name: str) -> None:
    data = fixture(name, f"-{name}")
    data["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = f"1555{zlib.crc32(name.encode()) % 10**7:07d}"
    await channel.process(data)  # a new resident; WhatsApp gives no language hint: English
    key = "handoff.photo_text_only" if name == "image" else "ui.text_only"  # a person, for a photo
    assert services.renderer.text("en", key) in texts(graph)
    assert graph.sent[-1]["type"] == "interactive"


@pytest.mark.parametrize("name", ["button_reply", "list_reply", "template_button"])
async def test_interactive_replies_are_button_presses(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                      services: Services, name: str) -> None:
    await channel.process(fixture(name, f"-{name}"))  # their ids are not ours: a clear fallback
    expected = {services.renderer.text(lang, key) for lang in services.languages
                for key in ("ui.greeting", "ui.fallback")}
    assert expected & set(texts(graph))


async def test_our_own_button_ids_round_trip(channel: WhatsAppChannel, graph: FakeGraphAPI, services: Services) -> None:
    data = fixture("button_reply", "-ours")
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message["interactive"]["button_reply"]["id"] = "main_menu:menu>@warrant_check"
    await channel.process(data)
    assert {services.renderer.text(lang, "warrant_check.intro") for lang in services.languages} & set(texts(graph))


async def test_duplicates_and_many_messages_per_body(channel: WhatsAppChannel, graph: FakeGraphAPI) -> None:
    body = fixture("text_ar", "-multi")
    second = json.loads(json.dumps(body["entry"][0]))
    second["changes"][0]["value"]["messages"][0]["id"] += "-b"
    second["changes"][0]["value"]["messages"][0]["from"] = "17735550999"
    body["entry"].append(second)
    await channel.process(body)
    recipients = {m["to"] for m in graph.sent}
    assert recipients == {"17735550111", "17735550999"}
    count = len(graph.sent)
    await channel.process(body)  # Meta delivers it again
    assert len(graph.sent) == count


async def test_statuses_are_counted_and_failures_recorded(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                          services: Services) -> None:
    await channel.process(fixture("status_delivered"))
    await channel.process(fixture("status_failed"))
    assert graph.sent == []  # never taken for user messages
    assert channel.counters["whatsapp_status_delivered"] >= 1
    with services.db.connect() as connection:
        rows = connection.execute(sa.select(deliveries.c.error_code, deliveries.c.reason,
                                            deliveries.c.resident)).all()
    assert any(code == 131047 and reason == "outside the 24-hour window" for code, reason, _ in rows)
    assert all("1773" not in (resident or "") for _, _, resident in rows)  # no phone numbers


async def test_429_then_success_and_400_without_retry(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                     services: Services) -> None:
    message = OutboundMessage("Hello", (Button("Yes", "a"), Button("No", "b")), "en")
    graph.script = [429, 503]
    await channel.send("17735550111", message)
    assert graph.attempts == 3 and len(graph.sent) == 1
    graph.script, graph.attempts = [400], 0
    await channel.send("17735550111", message)
    assert graph.attempts == 1 and len(graph.sent) == 1
    with services.db.connect() as connection:
        failed = connection.execute(sa.select(sa.func.count()).select_from(deliveries).where(
            deliveries.c.reason == "rejected by WhatsApp (HTTP 400)")).scalar()
    assert failed >= 1
    graph.script, graph.attempts = [500, 500, 500, 500], 0  # never recovers: recorded too
    await channel.send("17735550111", message)
    assert graph.attempts == 4
    with services.db.connect() as connection:
        gave_up = connection.execute(sa.select(sa.func.count()).select_from(deliveries).where(
            deliveries.c.reason == "send failed after retries")).scalar()
    assert gave_up >= 1


@pytest.mark.parametrize("lang", ["en", "es", "zh_Hans", "ar", "uk", "ht", "pl", "fr"])
def test_every_step_renders_within_whatsapp_limits(channel: WhatsAppChannel, services: Services, lang: str) -> None:
    dialogue = services.renderer.dialogue
    checked = 0
    for flow in dialogue.flows.values():
        for step in flow.steps.values():
            message = services.renderer.render({"kind": "step", "flow": flow.id, "step": step.id}, lang)
            for body in channel.bodies(message):
                if body["type"] == "interactive":
                    limits(body)
                    checked += 1
                else:
                    assert len(body["text"]["body"]) <= 4096
    assert checked > 20  # the steps really are sent as buttons and lists


def test_more_than_ten_choices_become_numbered_text(channel: WhatsAppChannel) -> None:
    message = OutboundMessage("Pick", tuple(Button(f"Choice {i}", f"p{i}") for i in range(12)), "en")
    bodies = channel.bodies(message)
    assert [b["type"] for b in bodies] == ["text"] and "12. Choice 11" in bodies[0]["text"]["body"]


async def test_the_number_is_stored_encrypted_only(channel: WhatsAppChannel, services: Services) -> None:
    """Stored only when a ticket needs it (asking for a person), and then only sealed."""
    data = fixture("text_ar", "-address")
    data["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "/human"
    await channel.process(data)
    with services.db.connect() as connection:
        sealed = [row[0] for row in connection.execute(sa.select(addresses.c.sealed))]
    assert sealed and all("17735550111" not in s for s in sealed)
    resident = services.conversation.resident(__import__("bot.core.messages", fromlist=["x"]).InboundMessage("whatsapp", "17735550111"))
    assert services.residents.address(resident) == "17735550111"


async def test_kyr_serve_whatsapp_webhook(trained, graph: FakeGraphAPI, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = dict(os.environ, WHATSAPP_TOKEN="TOKEN", WHATSAPP_PHONE_NUMBER_ID="106540352242922",
               WHATSAPP_APP_SECRET=SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY, WHATSAPP_API_BASE=graph.base(),
               KYR_DATA_DIR=str(tmp_path), KYR_SECRET_KEY="wa-serve",
               KYR_MAX_MESSAGE_AGE_HOURS="0")  # the recorded fixture is months old
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/webhooks/whatsapp"

    def call(method: str, path: str = "", body: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
        request = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), ""

    try:
        health = await asyncio.to_thread(wait_healthy, port, process)
        assert health["channels"] == ["whatsapp"]
        good = f"?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
        assert await asyncio.to_thread(call, "GET", good) == (200, "1158201444")
        bad = "?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444"
        assert (await asyncio.to_thread(call, "GET", bad))[0] == 403
        body = json.dumps(fixture("text_ar", "-serve")).encode()
        assert (await asyncio.to_thread(call, "POST", "", body, {"Content-Type": "application/json"}))[0] == 401
        wrong = {"X-Hub-Signature-256": signature("not-the-secret", body)}
        assert (await asyncio.to_thread(call, "POST", "", body, wrong))[0] == 403
        await asyncio.sleep(0.5)
        assert graph.sent == []
        right = {"X-Hub-Signature-256": signature(SECRET, body)}
        assert (await asyncio.to_thread(call, "POST", "", body, right))[0] == 200
        for _ in range(100):
            if graph.sent:
                break
            await asyncio.sleep(0.1)
        assert graph.sent and graph.sent[0]["to"] == "17735550111"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_delete_erases_the_number_and_delivery_records(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                             services: Services) -> None:
    from bot.core.messages import InboundMessage
    from bot.storage.addresses import record_delivery

    data = fixture("text_ar", "-erase")
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message["from"] = "17735550777"
    message["text"]["body"] = "/human"  # a ticket: the number is kept while it is open
    await channel.process(data)
    resident = services.conversation.resident(InboundMessage("whatsapp", "17735550777"))
    record_delivery(services.db, "whatsapp", resident, "failed", 131047, "outside the 24-hour window")
    assert services.residents.address(resident) == "17735550777"
    for i, payload in enumerate(["/delete", "delete_my_data:confirm>done"]):
        press = fixture("button_reply", f"-erase{i}")
        reply = press["entry"][0]["changes"][0]["value"]["messages"][0]
        reply["from"] = "17735550777"
        reply["interactive"]["button_reply"]["id"] = payload
        await channel.process(press)
    assert services.residents.address(resident) is None
    assert await services.engine.store.retrieve(resident) is None
    with services.db.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(deliveries).where(
            deliveries.c.resident == resident)).scalar()
    assert left == 0


async def test_a_rejection_is_recorded_with_its_reason(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                       services: Services) -> None:
    graph.script = [400]
    await channel.send("17735550555", OutboundMessage("Hello", (), "en"))
    from bot.core.messages import InboundMessage

    resident = services.conversation.resident(InboundMessage("whatsapp", "17735550555"))
    with services.db.connect() as connection:
        reasons = [r[0] for r in connection.execute(sa.select(deliveries.c.reason).where(
            deliveries.c.resident == resident))]
    assert reasons == ["rejected by WhatsApp (HTTP 400)"]


def test_list_and_button_ids_are_unique(channel: WhatsAppChannel, services: Services) -> None:
    seen: set[tuple[str, str]] = set()
    for flow in services.renderer.dialogue.flows.values():
        for step in flow.steps.values():
            message = services.renderer.render({"kind": "step", "flow": flow.id, "step": step.id}, "en")
            for body in channel.bodies(message):
                if body["type"] != "interactive":
                    continue
                action = body["interactive"]["action"]
                ids = ([b["reply"]["id"] for b in action["buttons"]] if "buttons" in action else
                       [r["id"] for s in action["sections"] for r in s["rows"]])
                assert len(ids) == len(set(ids)), (flow.id, step.id, ids)
                seen.add((flow.id, step.id))
    assert len(seen) > 20  # most steps have buttons: the check ran


@pytest.mark.parametrize("kind,content", [
    ("video", {"id": "v1", "mime_type": "video/mp4"}), ("document", {"id": "d1", "filename": "carta.pdf"}),
    ("sticker", {"id": "s1", "animated": False}), ("contacts", [{"name": {"formatted_name": "X"}}]),
    ("reaction", {"message_id": "wamid.x", "emoji": "\U0001f64f"}),
])
async def test_other_inbound_types_get_the_text_only_answer(channel: WhatsAppChannel, graph: FakeGraphAPI,
                                                            services: Services, kind: str, content: Any) -> None:
    data = fixture("image", f"-{kind}")
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("image")
    message.update({"type": kind, kind: content, "from": "17735550666"})
    await channel.process(data)
    answers = {services.renderer.text(lang, "ui.text_only") for lang in services.languages}
    assert answers & set(texts(graph))


async def test_staff_replies_reach_the_resident_on_whatsapp_or_say_why_not(
        channel: WhatsAppChannel, graph: FakeGraphAPI, services: Services) -> None:
    """The relay through the real adapter: a reply goes to the resident's number; Meta's
    131047 (the 24-hour window closed) comes back to staff as the reason."""
    from bot.app.relay import Relay

    body = fixture("text_ar", "-relay")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["from"] = "17735550199"
    message["text"]["body"] = "/human"
    await channel.process(body)
    ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("whatsapp", "17735550199")))
    assert ticket is not None and ticket.channel == "whatsapp"
    services.tickets.claim(ticket.id, "ana")
    from bot.testing import deliver_queued

    relay = Relay(services.tickets, services.residents, services.conversation, {"whatsapp": channel},
                  services.outbox)
    graph.sent.clear()
    _, reason = await relay.reply(ticket.id, "ana", "مرحبا، أنا متطوعة من الخط الساخن.")
    assert reason is None  # queued; the sender delivers it
    await deliver_queued(services.outbox, relay.channels)
    assert graph.sent == [{"messaging_product": "whatsapp", "recipient_type": "individual",
                           "to": "17735550199", "type": "text",
                           "text": {"body": "مرحبا، أنا متطوعة من الخط الساخن."}}]
    graph.script, graph.error_code = [400], 131047
    _, reason = await relay.reply(ticket.id, "ana", "are you still there?")
    assert reason is None  # known only when Meta answers: the sender marks the line
    await deliver_queued(services.outbox, relay.channels)
    line = services.tickets.messages(ticket.id)[-1]
    assert (line.delivery, line.reason) == ("failed", "outside the 24-hour window")


async def test_an_unreachable_graph_api_is_retried_then_left_for_later(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sends' aiohttp session (bot.channels.http.Poster): a refused connection is a
    failed attempt, retried, and then "retry later" for the outbox; nothing raises."""
    import bot.channels.whatsapp.channel as whatsapp_module
    from bot.core.delivery import Outcome

    monkeypatch.setattr(whatsapp_module, "RETRY_DELAYS", (0.01, 0.01))
    nobody = f"http://127.0.0.1:{free_port()}/v21.0"  # nothing listens there
    whatsapp = WhatsAppChannel(channel_context(services), "TOKEN", "106540352242922", SECRET,
                               VERIFY, nobody)
    await whatsapp.start()
    try:
        result = await whatsapp.send("17735550123", OutboundMessage(text="hola", lang="es"))
    finally:
        await whatsapp.stop()
    assert result.outcome is Outcome.RETRY
    assert whatsapp.counters.get("whatsapp_failed") == 1
