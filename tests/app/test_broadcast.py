"""Alerts to subscribers on SQLite and PostgreSQL: one row and one message each, through a
start cut short mid-batch and resumed; text or template by WhatsApp's window; the daily
tier held and released; opt-outs between start and send; the author's own words only in
the language they wrote."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.broadcast import (FAILED, HELD, OPTED_OUT, QUEUED, SENT, Broadcaster,
                               WhatsAppTemplate, load_whatsapp_templates)
from bot.app.outbox import Delivery, Outbox, Sender
from bot.app.pacing import Pacer
from bot.network.alerts import ALL_CLEAR, SENDING, SENT as ALERT_SENT, AlertService
from bot.network.subscriptions import Subscriptions
from bot.storage.db import make_engine
from bot.storage.schema import alert_deliveries, outbox as outbox_table
from tests.app.broadcast_helpers import (SECRET, TEMPLATE, Words, approved_alert, clean,
                                         send_all, subscribe, text_of)

TEMPLATES = {TEMPLATE: WhatsAppTemplate("kyr_alert_activity", {"en": "en_US", "es": "es_MX"},
                                        ("area", "time", "expires"))}


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    clean(engine)
    yield engine
    engine.dispose()


class Counted:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def alert(self, area: str, language: str, connection: Any = None) -> None:
        self.calls.append((area, language, connection is not None))


def broadcaster(db: Engine, **options: Any) -> tuple[Broadcaster, Outbox]:
    box = Outbox(db, SECRET)
    options.setdefault("templates", TEMPLATES)
    options.setdefault("tier", None)
    return Broadcaster(db, SECRET, box, AlertService(db, SECRET), Subscriptions(db), Words(),
                       **options), box


def drain(box: Outbox, channels: tuple[str, ...] = ("telegram", "whatsapp"),
          fail: set[str] = frozenset()) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[assignment]
    """Send every ready row the way a sender would (claim, mark): what went, to whom."""
    went: list[tuple[str, dict[str, Any]]] = []
    for _ in range(1000):
        claimed = [c for channel in channels for c in box.claim(channel, 100)]
        if not claimed:
            return went
        for row in claimed:
            if row.address in fail:
                box.failed(row, "rejected by WhatsApp (HTTP 400)")
            else:
                box.sent(row)
                went.append((row.address, row.item))
    raise AssertionError("the outbox never emptied")


def states(db: Engine) -> Counter[str]:
    with db.connect() as connection:
        return Counter(s for (s,) in connection.execute(sa.select(alert_deliveries.c.state)))


def test_an_approved_alert_nobody_started_is_started_by_resume(db: Engine) -> None:
    """The process that approved it stopped before starting it: the next resume sends it."""
    alert = approved_alert(db)
    for i in range(3):
        subscribe(db, f"telegram-a{i}", "telegram", "en", ("c31",), f"chat-a{i}")
    later, box = broadcaster(db)
    assert later.resume() == 3 and AlertService(db, SECRET).get(alert.id).state == SENDING
    assert sorted(address for address, _ in drain(box)) == ["chat-a0", "chat-a1", "chat-a2"]
    assert later.resume() == 0


def test_a_start_cut_short_mid_batch_resumes_without_duplicates(db: Engine) -> None:
    alert = approved_alert(db)
    residents = [f"telegram-r{i:03d}" for i in range(23)]
    for i, resident in enumerate(residents):
        subscribe(db, resident, "telegram", ("es", "en", "fr")[i % 3], ("c31",), f"chat-{i}")
    counted = Counted()
    first, box = broadcaster(db, batch=5, counters=counted)
    written = {"batches": 0}
    real = first._write_once

    def crash_in_the_third_batch(alert_: Any, batch: list[Any]) -> int:
        written["batches"] += 1
        if written["batches"] == 3:
            raise ConnectionError("the worker died mid-batch")
        return real(alert_, batch)

    first._write_once = crash_in_the_third_batch  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        first.start(alert.id)
    assert AlertService(db, SECRET).get(alert.id).state == SENDING
    assert states(db) == Counter({QUEUED: 10})  # two whole batches, nothing of the third
    early = drain(box)  # the rows already written go out while nobody resumes
    assert len(early) == 10

    second, box2 = broadcaster(db, batch=5, counters=counted)  # a new process
    assert second.resume() == 13
    assert second.resume() == 0  # idempotent: nothing more to write
    late = drain(box2)
    assert second.start(alert.id) == 0
    went = early + late
    assert sorted(address for address, _ in went) == sorted(f"chat-{i}" for i in range(23))
    assert all(item["alert"] == alert.id for _, item in went)
    with db.connect() as connection:
        rows = connection.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar()
    assert rows == 23  # one outbox row each
    assert second.progress(alert.id).sent == 23 and states(db) == Counter({SENT: 23})
    assert second.resume() == 0 and AlertService(db, SECRET).get(alert.id).state == ALERT_SENT
    assert len(counted.calls) == 23 and all(inside for _, _, inside in counted.calls)
    assert {area for area, _, _ in counted.calls} == {"c31"}
    spanish = [text_of(item) for address, item in went if address == "chat-0"]
    assert spanish and spanish[0].startswith("Agentes de inmigración reportados en 31 Lower "
                                             "West Side, 30 South Lawndale a las 14:30")


def test_text_inside_the_window_template_outside(db: Engine) -> None:
    alert = approved_alert(db)
    subscribe(db, "whatsapp-new", "whatsapp", "es", ("c30",), "17735550001", 2)
    subscribe(db, "whatsapp-edge", "whatsapp", "es", ("c30",), "17735550002", 23.5)  # < 1 h left
    subscribe(db, "whatsapp-old", "whatsapp", "ht", ("c30",), "17735550003", 30)
    subscribe(db, "telegram-any", "telegram", "es", ("c30",), "42", 300)
    sender, box = broadcaster(db)
    plan = sender.plan(alert.id)
    assert (plan.subscribers, plan.whatsapp_templates, plan.over_tier) == (4, 2, 0)
    assert plan.by_channel == {"whatsapp": 3, "telegram": 1}
    sender.start(alert.id)
    went = dict(drain(box))
    assert "message" in went["17735550001"] and "template" not in went["17735550001"]
    assert "message" in went["42"]
    # ht has no approved translation of the template: the English one goes
    for number, code in (("17735550002", "es_MX"), ("17735550003", "en_US")):
        template = went[number]["template"]
        assert template["name"] == "kyr_alert_activity" and template["language"] == code
        assert template["parameters"][:2] == ["31 Lower West Side, 30 South Lawndale", "14:30"]
    with db.connect() as connection:
        flags = dict(connection.execute(sa.select(alert_deliveries.c.resident,
                                                  alert_deliveries.c.template)).all())
    assert flags == {"whatsapp-new": False, "whatsapp-edge": True, "whatsapp-old": True,
                     "telegram-any": False}


def test_no_template_for_the_alert_fails_with_a_reason(db: Engine) -> None:
    alert = approved_alert(db)
    subscribe(db, "whatsapp-old", "whatsapp", "es", ("c31",), "17735550003", 30)
    sender, box = broadcaster(db, templates={})
    sender.start(alert.id)
    assert drain(box) == []
    with db.connect() as connection:
        state, reason = connection.execute(sa.select(alert_deliveries.c.state,
                                                     alert_deliveries.c.reason)).one()
    assert state == FAILED and "no approved template" in reason
    assert AlertService(db, SECRET).get(alert.id).state == ALERT_SENT  # nothing left to do


def test_the_tier_holds_the_rest_and_releases_it_as_the_day_rolls(db: Engine) -> None:
    now = [time.time() - 12 * 3600]  # the fake clock starts this morning; alerts expire by the real one
    sender, box = broadcaster(db, tier=3, clock=lambda: now[0])

    def wrote(resident: str, hours_ago: float) -> None:
        at = dt.datetime.fromtimestamp(now[0] - hours_ago * 3600, dt.timezone.utc)
        Subscriptions(db).seen(resident, at)

    earlier = approved_alert(db, areas=("c8",), hours=4)
    for i in range(2):  # two residents reached by template this morning
        subscribe(db, f"whatsapp-m{i}", "whatsapp", "en", ("c8",), f"1312555000{i}")
        wrote(f"whatsapp-m{i}", 30)
    sender.start(earlier.id)
    assert len(drain(box)) == 2 and sender.resume() == 0
    assert AlertService(db, SECRET).get(earlier.id).state == ALERT_SENT

    now[0] += 12 * 3600  # twelve hours later: one place left in the rolling day
    alert = approved_alert(db, areas=("c24", "c31"), hours=20)
    for i, area in enumerate(("c31", "c24", "c31", "c24", "c31")):  # outside the window
        subscribe(db, f"whatsapp-t{i}", "whatsapp", "es", (area,), f"1773555100{i}")
        wrote(f"whatsapp-t{i}", 30)
    subscribe(db, "whatsapp-in", "whatsapp", "es", ("c31",), "17735552000")
    wrote("whatsapp-in", 1)
    plan = sender.plan(alert.id)
    assert (plan.whatsapp_templates, plan.whatsapp_tier, plan.over_tier) == (5, 3, 4)
    sender.start(alert.id)
    assert states(db) == Counter({SENT: 2, QUEUED: 2, HELD: 4})
    first = dict(drain(box))
    assert set(first) == {"17735551001", "17735552000"}  # the report's area first; text is free
    assert "template" in first["17735551001"] and "message" in first["17735552000"]
    progress = sender.progress(alert.id)
    assert (progress.total, progress.sent, progress.held) == (6, 2, 4)

    now[0] += 6 * 3600
    assert sender.resume() == 0  # the morning's two still count
    assert AlertService(db, SECRET).get(alert.id).state == SENDING
    now[0] += 6 * 3600 + 1  # they have aged out: two places
    assert sender.resume() == 2
    second = dict(drain(box))
    assert set(second) == {"17735551003", "17735551000"}  # c24 first, then the oldest of c31
    assert sender.progress(alert.id).held == 2


def test_held_rows_of_an_expired_alert_are_not_sent(db: Engine) -> None:
    now = [time.time()]
    alert = approved_alert(db, hours=2)
    for i in range(3):
        subscribe(db, f"whatsapp-t{i}", "whatsapp", "es", ("c31",), f"1773555100{i}", 30)
    sender, box = broadcaster(db, tier=1, clock=lambda: now[0])
    sender.start(alert.id)
    assert len(drain(box)) == 1
    now[0] = alert.expires_at.timestamp() + 24 * 3600
    sender.resume()
    assert drain(box) == [] and states(db) == Counter({SENT: 1, FAILED: 2})


def test_a_failed_send_is_recorded_on_its_delivery_row(db: Engine) -> None:
    alert = approved_alert(db)
    subscribe(db, "telegram-a", "telegram", "en", ("c31",), "1")
    subscribe(db, "telegram-b", "telegram", "en", ("c31",), "2")
    sender, box = broadcaster(db)
    sender.start(alert.id)
    drain(box, fail={"2"})
    assert states(db) == Counter({SENT: 1, FAILED: 1})
    progress = sender.progress(alert.id)
    assert (progress.sent, progress.failed) == (1, 1)


def test_free_text_only_in_the_language_it_was_written_in(db: Engine) -> None:
    alert = approved_alert(db, free_text={"es": "Eviten la calle 26 esta tarde"})
    subscribe(db, "telegram-es", "telegram", "es", ("c31",), "1")
    subscribe(db, "telegram-en", "telegram", "en", ("c31",), "2")
    sender, box = broadcaster(db)
    sender.start(alert.id)
    went = {address: text_of(item) for address, item in drain(box)}
    assert went["1"].endswith("\n\nWritten by staff: Eviten la calle 26 esta tarde")
    assert "calle 26" not in went["2"] and went["2"].startswith("Immigration agents reported")


def test_a_resident_who_stops_between_start_and_send_is_skipped(db: Engine) -> None:
    alert = approved_alert(db)
    for i in range(4):
        subscribe(db, f"telegram-s{i}", "telegram", "en", ("c31",), str(100 + i))
    sender, box = broadcaster(db)
    sender.start(alert.id)
    Subscriptions(db).stop("telegram-s1")
    Subscriptions(db).subscribe("telegram-s2", "telegram", "en", ("c24",), "typed", "v1")  # moved
    got: list[str] = []

    async def deliver(address: str, item: dict[str, Any]) -> Delivery:
        got.append(address)
        return Delivery(True)

    asyncio.run(send_all(sender, box, alert.id, "telegram", deliver))
    assert sorted(got) == ["100", "103"]
    assert states(db) == Counter({SENT: 2, OPTED_OUT: 2})
    assert sender.progress(alert.id).opted_out == 2
    sender.resume()
    assert AlertService(db, SECRET).get(alert.id).state == ALERT_SENT


def test_a_sender_marks_its_sends_together_and_reads_the_gate_once_a_batch(db: Engine) -> None:
    """Thirty alert rows: every one sent and marked, in fewer transactions than sends
    (Outbox.settle), and the opt-out gate read once per claimed batch, not once per row."""
    alert = approved_alert(db)
    for i in range(30):
        subscribe(db, f"telegram-g{i:02d}", "telegram", "en", ("c31",), str(200 + i))
    sender, box = broadcaster(db)
    sender.start(alert.id)
    settles: list[int] = []
    reads: list[int] = []
    real_settle, real_get_many = box.settle, sender.subscriptions.get_many

    def settle(results: Any) -> Any:
        settles.append(len(results))
        return real_settle(results)

    def get_many(residents: Any) -> Any:
        reads.append(len(residents))
        return real_get_many(residents)

    box.settle = settle  # type: ignore[method-assign]
    sender.subscriptions.get_many = get_many  # type: ignore[method-assign]

    async def deliver(address: str, item: dict[str, Any]) -> Delivery:
        await asyncio.sleep(0.001)
        return Delivery(True)

    counters = asyncio.run(send_all(sender, box, alert.id, "telegram", deliver))
    assert states(db) == Counter({SENT: 30}) and counters.get("sent") == 30
    assert sum(settles) == 30 and len(settles) < 30
    assert sum(reads) == 30 and len(reads) < 30 and max(reads) == 16  # a claim is 16 rows


def test_stop_marks_the_sends_that_finished_while_stopping(db: Engine) -> None:
    """A send that finishes during stop() is marked before stop returns: nothing is left
    'doing' to be sent again after its lease."""
    box = Outbox(db, SECRET)
    from bot.app.outbox import Draft

    box.enqueue([Draft("telegram", f"c{i}", str(i), {"message": {"text": "x"}}) for i in range(5)])

    async def deliver(address: str, item: dict[str, Any]) -> Delivery:
        await asyncio.sleep(0.2)
        return Delivery(True)

    async def run() -> None:
        worker = Sender(box, "telegram", deliver, Pacer.for_channel("telegram", rate=1000.0),
                        idle=0.01)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.1)  # all five claimed, none finished
        await worker.stop()
        task.cancel()

    asyncio.run(run())
    assert box.counts() == {("telegram", "sent"): 5}


def test_held_rows_go_with_each_batch_when_the_tier_has_room_for_all(db: Engine) -> None:
    """Template rows wait for the last batch only when the tier could not take them all
    (then urgency decides who goes first); with room for every WhatsApp subscriber they
    are released batch by batch."""
    for i in range(6):
        subscribe(db, f"whatsapp-t{i}", "whatsapp", "en", ("c31",), f"1312555{i:04d}",
                  last_wrote_hours_ago=30)
    calls = {}
    for tier in (None, 100, 3):
        clean_alerts = approved_alert(db)
        sender, box = broadcaster(db, batch=2, tier=tier)
        real = sender.release
        calls[tier] = 0

        def counting(real: Any = real, tier: Any = tier) -> int:
            calls[tier] += 1
            return int(real())

        sender.release = counting  # type: ignore[method-assign]
        sender.start(clean_alerts.id)
        drain(box)
        with db.begin() as connection:  # the next round starts with an unused tier
            connection.execute(sa.delete(alert_deliveries))
    assert calls[None] == 3 + 1 and calls[100] == 3 + 1  # one per batch, and the last
    assert calls[3] == 1  # only after the last batch


def test_outbox_ids_of_many_rows_each_name_their_own_row(db: Engine) -> None:
    from bot.app.outbox import Draft

    box = Outbox(db, SECRET)
    drafts = [Draft("whatsapp", f"alert:r{i}", f"1773{i:07d}", {"n": i}, 2) for i in range(40)]
    with db.begin() as connection:
        ids = box.add_many(connection, drafts)
    assert len(set(ids)) == 40
    by_id = {row.id: row for row in box.claim("whatsapp", 100)}
    assert [by_id[i].address for i in ids] == [d.address for d in drafts]
    assert [by_id[i].item for i in ids] == [d.item for d in drafts]


def test_only_an_approved_alert_is_started(db: Engine) -> None:
    from bot.app.broadcast import BroadcastError

    alert = approved_alert(db)
    sender, _ = broadcaster(db)
    sender.start(alert.id)
    sender.resume()
    with pytest.raises(BroadcastError, match="only an approved alert"):
        sender.start(alert.id)  # sent: never again
    clear = AlertService(db, SECRET).draft("ana", kind=ALL_CLEAR, areas=("c31",),
                                           template=TEMPLATE, params={"time": "16:00"},
                                           expires_at=alert.expires_at, parent_id=alert.id)
    with pytest.raises(BroadcastError, match="is draft"):
        sender.start(clear.id)


def test_the_template_file_is_read(tmp_path: Any) -> None:
    path = tmp_path / "templates.yml"
    path.write_text("whatsapp_templates:\n  alerts.template_agents:\n    name: kyr_alert\n"
                    "    languages: {en: en_US, es: es}\n    parameters: [area, time]\n")
    found = load_whatsapp_templates(path)
    assert found[TEMPLATE].name == "kyr_alert" and found[TEMPLATE].language("es") == "es"
    assert found[TEMPLATE].language("zh_Hans") is None
    assert load_whatsapp_templates(tmp_path / "none.yml") == {}
    path.write_text("whatsapp_templates:\n  alerts.x: {name: y}\n")
    with pytest.raises(Exception, match="needs name and languages"):
        load_whatsapp_templates(path)


def test_a_start_killed_mid_batch_resumes_without_duplicates(db: Engine, database_url: str) -> None:
    """SIGKILL, not an exception: the open transaction dies with the process."""
    import os
    import signal
    import subprocess
    import sys

    from bot.settings import PROJECT_ROOT

    alert = approved_alert(db)
    for i in range(120):
        subscribe(db, f"telegram-k{i:03d}", "telegram", "es", ("c31",), str(7000 + i))
    process = subprocess.Popen([sys.executable, "-m", "tests.app.broadcast_process", database_url,
                                str(alert.id)], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert process.stdout is not None
    lines = []
    for _ in range(200):
        line = process.stdout.readline().strip()
        lines.append(line)
        if lines.count("batch") == 2 or line in ("done", ""):
            break
    time.sleep(0.03)  # inside the third batch's transaction
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert "done" not in lines and lines.count("batch") == 2
    cut_short = states(db)[QUEUED]
    assert 40 <= cut_short < 120
    resumed, box = broadcaster(db)
    assert resumed.resume() == 120 - cut_short
    went = drain(box)
    assert sorted(address for address, _ in went) == sorted(str(7000 + i) for i in range(120))
    resumed.resume()
    assert states(db) == Counter({SENT: 120})
    assert AlertService(db, SECRET).get(alert.id).state == ALERT_SENT


def test_delivery_rows_go_after_the_retention(db: Engine) -> None:
    now = [time.time()]
    alert = approved_alert(db)
    subscribe(db, "telegram-a", "telegram", "en", ("c31",), "1")
    sender, box = broadcaster(db, clock=lambda: now[0])
    sender.start(alert.id)
    drain(box)
    sender.resume()
    assert sender.forget_old(30 * 86400) == 0
    now[0] += 31 * 86400
    assert sender.forget_old(30 * 86400) == 1 and sender.progress(alert.id).total == 0


def test_an_alert_that_expired_waiting_is_not_started(db: Engine) -> None:
    from bot.app.broadcast import BroadcastError
    from bot.storage.schema import alerts as alerts_table

    alert = approved_alert(db)
    subscribe(db, "telegram-a", "telegram", "en", ("c31",), "1")
    with db.begin() as connection:
        connection.execute(sa.update(alerts_table).where(alerts_table.c.id == alert.id).values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
    sender, box = broadcaster(db)
    with pytest.raises(BroadcastError, match="expired before it went out"):
        sender.start(alert.id)
    assert drain(box) == [] and sender.progress(alert.id).total == 0


def test_delete_takes_the_residents_alert_rows_sent_or_not(db: Engine) -> None:
    """/delete: no queued alert keeps their address, no delivery row names them."""
    from bot.app.residents import Residents
    from bot.handoff.tickets import TicketService
    from bot.storage.tracker_store import KyrTrackerStore

    alert = approved_alert(db)
    subscribe(db, "telegram-gone", "telegram", "en", ("c31",), "chat-gone")
    subscribe(db, "telegram-stays", "telegram", "en", ("c31",), "chat-stays")
    sender, box = broadcaster(db)
    assert sender.start(alert.id) == 2
    residents = Residents(db, SECRET, TicketService(db, SECRET), KyrTrackerStore(None, db),
                          subscriptions=Subscriptions(db))
    residents.erase_now("telegram-gone")
    with db.connect() as connection:
        named = connection.execute(sa.select(alert_deliveries.c.resident)).scalars().all()
        queued = connection.execute(sa.select(outbox_table.c.conversation)).scalars().all()
    assert named == ["telegram-stays"] and queued == ["alert:telegram-stays"]
    assert [address for address, _ in drain(box)] == ["chat-stays"]
