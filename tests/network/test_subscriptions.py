"""Subscriptions on SQLite and PostgreSQL: subscribe replaces areas and consent, stop,
the 24-hour window, streaming by area in pages, counts."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.network.subscriptions import SubscriptionError, Subscriptions


def someone() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_subscribe_replaces_areas_and_consent(subscriptions: Subscriptions) -> None:
    resident = someone()
    first = subscriptions.subscribe(resident, "telegram", "es", ["c24", "c22", "c24"], "button", "v1")
    assert first.areas == ("c22", "c24") and first.language == "es" and first.channel == "telegram"
    assert first.consent_method == "button" and first.consent_version == "v1"
    assert first.consent_at.tzinfo is not None and first.last_inbound_at is not None
    again = subscriptions.subscribe(resident, "telegram", "pl", ["s-cicero"], "typed", "v2")
    assert again.areas == ("s-cicero",) and again.language == "pl" and again.consent_version == "v2"
    assert again.consent_at >= first.consent_at
    assert subscriptions.get(resident) == again


@pytest.mark.parametrize("areas, method, version", [
    ([], "button", "v1"), (["c99"], "button", "v1"), (["West Town"], "button", "v1"),
    (["c24"], "nodded", "v1"), (["c24"], "button", ""), (["c24"], "button", "x" * 65)])
def test_a_subscription_must_be_well_formed(subscriptions: Subscriptions, areas: list[str],
                                            method: str, version: str) -> None:
    resident = someone()
    with pytest.raises(SubscriptionError):
        subscriptions.subscribe(resident, "telegram", "es", areas, method, version)
    assert subscriptions.get(resident) is None


def test_stop_deletes_and_says_whether_there_was_one(subscriptions: Subscriptions) -> None:
    resident = someone()
    subscriptions.subscribe(resident, "whatsapp", "zh", ["c34"], "command", "v1")
    assert subscriptions.stop(resident) is True
    assert subscriptions.get(resident) is None
    assert subscriptions.stop(resident) is False
    assert resident not in {s.resident for s in subscriptions.for_areas(["c34"])}


def test_seen_moves_the_window_and_ignores_strangers(subscriptions: Subscriptions) -> None:
    resident = someone()
    subscriptions.subscribe(resident, "whatsapp", "es", ["c30"], "button", "v1")
    later = dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc)
    subscriptions.seen(resident, later)
    found = subscriptions.get(resident)
    assert found is not None and found.last_inbound_at == later
    subscriptions.seen(someone(), later)  # not subscribed: nothing happens, no row
    assert subscriptions.get(someone()) is None


def test_for_areas_streams_each_subscriber_once_in_order(subscriptions: Subscriptions) -> None:
    area, other = "c70", "c71"
    mine = sorted(someone() for _ in range(7))
    for i, resident in enumerate(mine):
        subscriptions.subscribe(resident, "telegram", "en", [area, other] if i % 2 else [area],
                                "button", "v1")
    outsider = someone()
    subscriptions.subscribe(outsider, "telegram", "en", ["c72"], "button", "v1")
    found = [s for s in subscriptions.for_areas([area, other], page=3) if s.resident.startswith("test-")
             and s.resident in mine]
    assert [s.resident for s in found] == mine  # once each, ordered, across pages of 3
    assert found[1].areas == (area, other) and found[0].areas == (area,)
    assert outsider not in {s.resident for s in subscriptions.for_areas([area, other], page=3)}
    assert list(subscriptions.for_areas([])) == []
    by_area = subscriptions.counts_by_area()
    assert by_area[area] >= 7 and by_area[other] >= 3
    assert subscriptions.count() >= 8
    for resident in mine + [outsider]:
        subscriptions.stop(resident)
