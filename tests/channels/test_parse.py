"""Platform payload -> InboundMessage, as pure functions on the recorded fixtures: no model,
no network, no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.channels.registry import TYPES, strictest
from bot.channels.telegram.parse import parse_update
from bot.channels.whatsapp.parse import parse_message, parse_status, values
from bot.core.messages import InboundMessage
from tests.conftest import platform_fixtures


def load(platform: str, name: str) -> Any:
    return json.loads((platform_fixtures(platform) / name).read_text(encoding="utf-8"))


def test_telegram_text_deep_link_and_button() -> None:
    text = parse_update(load("telegram", "text_es.json"))
    assert text.inbound is not None and text.inbound.text and text.inbound.lang_hint == "es"
    start = parse_update(load("telegram", "start_deeplink.json"))
    assert start.inbound == InboundMessage("telegram", "700100201", text="/start uk", lang_hint="uk")
    tap = parse_update(load("telegram", "callback_query.json"))
    assert tap.callback_id == "4382bfdwdsb323b2d9" and tap.chat_id == 700100200
    assert tap.inbound == InboundMessage("telegram", "700100200", payload=tap.inbound.payload,
                                         lang_hint="es") and tap.inbound.payload


def test_telegram_media_group_and_edits() -> None:
    for name, kind in (("photo.json", "photo"), ("voice.json", "voice")):
        parsed = parse_update(load("telegram", name))
        assert parsed.inbound is not None and parsed.inbound.media == kind
        assert parsed.inbound.text is None  # a caption is not read
    group = parse_update(load("telegram", "group_message.json"))
    assert group.group and group.inbound is None and group.hint == "pl"
    edited = parse_update(load("telegram", "edited_message.json"))
    assert edited.update_id is not None and edited.inbound is None and not edited.group


def test_telegram_garbage_never_raises() -> None:
    for data in ({}, {"update_id": "x"}, {"update_id": 1, "message": "no"},
                 {"update_id": 2, "callback_query": {"message": {"chat": []}}},
                 {"update_id": True, "message": {"chat": {"id": 5, "type": "private"}}}):
        parsed = parse_update(data)
        assert parsed.inbound is None


def messages_of(name: str) -> list[InboundMessage | None]:
    return [parse_message(m) for v in values(load("whatsapp", name)) for m in v.get("messages") or []]


def test_whatsapp_text_buttons_lists_templates_and_media() -> None:
    [text] = messages_of("text_ar.json")
    assert text is not None and text.text and text.channel == "whatsapp"
    for name in ("button_reply.json", "list_reply.json", "template_button.json"):
        [tap] = messages_of(name)
        assert tap is not None and tap.payload, name
    for name in ("image.json", "audio.json", "location.json", "unsupported.json"):
        [media] = messages_of(name)
        assert media is not None and media.media and media.text is None, name


def test_whatsapp_statuses() -> None:
    [failed] = [parse_status(s) for v in values(load("whatsapp", "status_failed.json"))
                for s in v.get("statuses") or []]
    assert (failed.state, failed.code, failed.reason) == ("failed", 131047, "outside the 24-hour window")
    [delivered] = [parse_status(s) for v in values(load("whatsapp", "status_delivered.json"))
                   for s in v.get("statuses") or []]
    assert delivered.state == "delivered" and delivered.reason is None


def test_whatsapp_garbage_never_raises() -> None:
    assert list(values({"entry": "x"})) == [] and list(values({"entry": [{"changes": [1]}]})) == [{}]
    assert parse_message({}) is None and parse_message({"from": "1"}) == InboundMessage(
        "whatsapp", "1", media="unsupported")


def test_channel_types_declare_limits_and_capabilities() -> None:
    kinds = {kind.name: kind for kind in TYPES}
    assert kinds["telegram"].limits.payload_bytes == 64
    assert kinds["whatsapp"].capabilities.reply_window is not None
    assert kinds["telegram"].capabilities.reply_window is None
    assert strictest().payload_bytes == 64 and strictest().button_title == 20
    assert not kinds["whatsapp"].configured({"WHATSAPP_TOKEN": "t"})


def test_fixture_folder_is_found() -> None:
    assert isinstance(platform_fixtures("telegram"), Path)
