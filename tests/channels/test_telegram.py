"""Telegram through python-telegram-bot against a Bot API test server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from bot.channels.base import split_text
from bot.channels.telegram.channel import TelegramChannel, webhook_secret
from bot.app.services import Services
from bot.web.app import channel_context
from bot.settings import PROJECT_ROOT
from tests.channels.fake_telegram import FakeBotAPI
from tests.conftest import platform_fixtures

TOKEN = "123456:TEST-token"


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((platform_fixtures("telegram") / f"{name}.json").read_text())
    data.update(changes)
    return data


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    server = await FakeBotAPI().start()
    yield server
    await server.stop()


@pytest.fixture
async def channel(services: Services, api: FakeBotAPI) -> AsyncIterator[TelegramChannel]:
    """The channel in webhook mode (no poller): tests hand it updates directly."""
    telegram = TelegramChannel(channel_context(services), TOKEN, api.base, webhook_url="https://bot.example.org/hook")
    await telegram.start()
    yield telegram
    await telegram.stop()


def unique(data: dict[str, Any], salt: str) -> dict[str, Any]:
    """Fresh update and user ids per test, so the processed-once table never interferes."""
    data = json.loads(json.dumps(data))
    offset = abs(hash(salt)) % 10_000_000
    data["update_id"] += offset
    for key in ("message", "edited_message", "callback_query"):
        if key in data:
            part = data[key]
            if "from" in part:
                part["from"]["id"] += offset
            chat = (part.get("message") or part).get("chat")
            if chat and chat["id"] > 0:
                chat["id"] += offset
    return data


def sent_texts(api: FakeBotAPI) -> list[str]:
    return [c["text"] for c in api.of("sendMessage")]


async def test_start_registers_commands_per_language_and_webhook(channel, api: FakeBotAPI) -> None:  # type: ignore[no-untyped-def]
    assert api.of("getMe")
    commands = api.of("setMyCommands")
    codes = {c.get("language_code") for c in commands}
    assert codes == {None, "es", "pl", "zh", "ar", "fr", "ht", "uk",
                     "tl", "ko", "hi", "ur", "gu", "ru"}
    spanish = next(c for c in commands if c.get("language_code") == "es")
    assert [cmd["command"] for cmd in spanish["commands"]] == ["menu", "lang", "human", "stop", "alerts",
                                                            "delete", "help"]
    hook = api.of("setWebhook")[0]
    assert hook["url"] == "https://bot.example.org/hook" and hook["secret_token"] == channel.secret
    assert all(call.token == TOKEN for call in api.calls)


async def test_spanish_text_gets_spanish_guidance_with_buttons(channel, api: FakeBotAPI, services: Services) -> None:  # type: ignore[no-untyped-def]
    data = unique(fixture("text_es"), "text_es")
    await channel.process(data)
    sent = await api.wait_for("sendMessage", 2)  # greeting, the question (the disclaimer follows it)
    chat = data["message"]["chat"]["id"]
    assert {int(m["chat_id"]) for m in sent} == {chat}
    assert sent[0]["text"] == services.renderer.text("es", "ui.greeting")
    assert "parse_mode" not in sent[-1]  # plain text: content cannot break formatting
    keyboard = sent[-1]["reply_markup"]["inline_keyboard"]
    buttons = [b for row in keyboard for b in row]
    assert all(len(b["callback_data"].encode()) <= 64 and len(b["text"]) <= 20 for b in buttons)
    assert services.renderer.label("es", "ui.talk_to_person") in [b["text"] for b in buttons]


async def test_a_button_press_is_answered_and_followed(channel, api: FakeBotAPI, services: Services) -> None:  # type: ignore[no-untyped-def]
    data = unique(fixture("callback_query"), "callback")
    data["callback_query"]["data"] = "ice_at_door:ask_now>at_door"
    await channel.process(data)
    answered = await api.wait_for("answerCallbackQuery")
    assert answered[0]["callback_query_id"] == data["callback_query"]["id"]
    sent = await api.wait_for("sendMessage", 2)
    assert services.renderer.text("es", "ice_at_door.ask_signed") in [m["text"] for m in sent]


async def test_deep_link_preselects_ukrainian(channel, api: FakeBotAPI, services: Services) -> None:  # type: ignore[no-untyped-def]
    await channel.process(unique(fixture("start_deeplink"), "deeplink"))
    sent = await api.wait_for("sendMessage", 2)
    assert sent[0]["text"] == services.renderer.text("uk", "ui.greeting")
    first_row = sent[-1]["reply_markup"]["inline_keyboard"][0]
    assert first_row[0]["text"] == "Українська"


@pytest.mark.parametrize("name", ["photo", "voice"])
async def test_media_gets_a_text_only_answer_in_the_residents_language(channel, api: FakeBotAPI,  # type: ignore[no-untyped-def]
                                                                       services: Services, name: str) -> None:
    data = unique(fixture(name), name)
    lang = "zh_Hans" if name == "voice" else "es"  # Wei's app says zh-hans; María's es
    await channel.process(data)
    sent = await api.wait_for("sendMessage", 2)
    # A photo may be the paper agents showed: the answer offers a person, who can see it.
    key = "handoff.photo_text_only" if name == "photo" else "ui.text_only"
    assert services.renderer.text(lang, key) in [m["text"] for m in sent]
    assert sent[-1]["reply_markup"]["inline_keyboard"]
    assert "/human" in [b["callback_data"] for row in sent[-1]["reply_markup"]["inline_keyboard"]
                        for b in row]


async def test_group_answered_once_with_a_private_link(channel, api: FakeBotAPI, services: Services) -> None:  # type: ignore[no-untyped-def]
    data = unique(fixture("group_message"), "group")
    await channel.process(data)
    again = dict(data, update_id=data["update_id"] + 1)
    await channel.process(again)
    sent = await api.wait_for("sendMessage", 1)
    await asyncio.sleep(0.2)
    assert len(api.of("sendMessage")) == 1
    assert sent[0]["text"] == services.renderer.text("pl", "ui.private_only", link="https://t.me/kyr_demo_bot?start=private")


async def test_duplicates_and_edits_are_not_answered_twice(channel, api: FakeBotAPI) -> None:  # type: ignore[no-untyped-def]
    data = unique(fixture("text_es"), "dupe")
    await channel.process(data)
    count = len(await api.wait_for("sendMessage", 2))
    await channel.process(data)  # the same update_id again
    edited = unique(fixture("edited_message"), "dupe")
    await channel.process(edited)
    await asyncio.sleep(0.3)
    assert len(api.of("sendMessage")) == count


def test_long_text_is_split_at_paragraphs() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(12))
    chunks = split_text(text)
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 90.0) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError("kyr serve did not become healthy")


async def test_kyr_serve_polls_telegram_and_answers(trained, api: FakeBotAPI, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=api.base,
               KYR_DATA_DIR=str(tmp_path), KYR_SECRET_KEY="serve-test",
               KYR_MAX_MESSAGE_AGE_HOURS="0")  # the recorded fixture is months old
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        health = await asyncio.to_thread(wait_healthy, port, process)
        assert health == {"ok": True, "channels": ["telegram"]}
        await api.wait_for("deleteWebhook")
        await api.updates.put(unique(fixture("text_es"), "serve"))
        sent = await api.wait_for("sendMessage", 2, timeout=30)
        assert sent[0]["text"].startswith("Hola")
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_webhook_rejects_a_wrong_secret_and_accepts_the_right_one(trained, api: FakeBotAPI, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=api.base,
               TELEGRAM_WEBHOOK_URL="https://bot.example.org/webhooks/telegram",
               KYR_DATA_DIR=str(tmp_path), KYR_SECRET_KEY="webhook-test",
               KYR_MAX_MESSAGE_AGE_HOURS="0")  # the recorded fixture is months old
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        await asyncio.to_thread(wait_healthy, port, process)
        hook = (await api.wait_for("setWebhook"))[0]
        secret = webhook_secret(b"webhook-test")
        assert hook["secret_token"] == secret
        body = json.dumps(unique(fixture("text_es"), "webhook")).encode()

        def post(token: str | None) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/telegram", data=body,
                                             headers={"Content-Type": "application/json",
                                                      **({"X-Telegram-Bot-Api-Secret-Token": token}
                                                         if token else {})})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert await asyncio.to_thread(post, None) == 403
        assert await asyncio.to_thread(post, "wrong") == 403
        await asyncio.sleep(0.5)
        assert api.of("sendMessage") == []
        assert await asyncio.to_thread(post, secret) == 200
        sent = await api.wait_for("sendMessage", 2, timeout=30)
        assert sent[0]["text"].startswith("Hola")
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("kind,content", [
    ("sticker", {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512, "is_animated": False,
                 "is_video": False, "type": "regular"}),
    ("document", {"file_id": "d", "file_unique_id": "d", "file_name": "carta.pdf"}),
    ("location", {"latitude": 41.93, "longitude": -87.72}),
    ("contact", {"phone_number": "+13125550100", "first_name": "Ana"}),
])
async def test_other_media_get_the_text_only_answer(channel, api: FakeBotAPI, services: Services,  # type: ignore[no-untyped-def]
                                                    kind: str, content: dict, caplog) -> None:
    data = unique(fixture("photo"), f"media-{kind}")
    data["message"].pop("photo")
    data["message"][kind] = content
    with caplog.at_level("DEBUG"):
        await channel.process(data)
    sent = await api.wait_for("sendMessage", 2)
    assert services.renderer.text("es", "ui.text_only") in [m["text"] for m in sent]
    chat_id = str(data["message"]["chat"]["id"])
    assert chat_id not in caplog.text and "+13125550100" not in caplog.text  # nothing identifying logged


async def test_staff_replies_and_the_end_of_a_ticket_reach_the_resident_on_telegram(
        channel, api: FakeBotAPI, services: Services) -> None:  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage
    from bot.app.relay import Relay

    data = unique(fixture("text_es"), "relay")
    data["message"]["text"] = "/human"
    await channel.process(data)
    await api.wait_for("sendMessage", 3)
    user = str(data["message"]["from"]["id"])
    ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("telegram", user)))
    assert ticket is not None and ticket.channel == "telegram"
    services.tickets.claim(ticket.id, "ana")
    from bot.testing import deliver_queued

    relay = Relay(services.tickets, services.residents, services.conversation, {"telegram": channel},
                  services.outbox)
    before = len(api.of("sendMessage"))
    assert (await relay.reply(ticket.id, "ana", "Hola, ¿está a salvo?"))[1] is None
    assert await relay.close(ticket.id, "ana", "resolved") is None
    await deliver_queued(services.outbox, relay.channels)  # through the outbox's sender
    sent = api.of("sendMessage")[before:]
    assert {int(m["chat_id"]) for m in sent} == {data["message"]["chat"]["id"]}
    assert sent[0]["text"] == "Hola, ¿está a salvo?" and "reply_markup" not in sent[0]
    assert any(services.renderer.text(ticket.language, "handoff.closed") in m["text"] for m in sent[1:])
    assert "inline_keyboard" in sent[-1]["reply_markup"]  # the menu's buttons
