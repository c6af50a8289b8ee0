"""Counters: written by each effect, exactly once, with nothing that identifies anyone."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import counters as c
from bot.app.counters import Counters, community_day, counts, rows_for, slug, wait_bucket
from bot.handoff.tickets import TicketService
from bot.identity import resident_key
from bot.settings import PROJECT_ROOT
from bot.storage.db import make_engine
from tests.conftest import POSTGRES_URL, postgres_reason

KYR = [sys.executable, "-m", "bot"]


def table(engine: sa.engine.Engine) -> dict[tuple[str, str, str, str], int]:
    """{(kind, area, dimension, value): n} over all days."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(counts)).mappings().all()
    out: dict[tuple[str, str, str, str], int] = {}
    for r in rows:
        key = (r["kind"], r["area"], r["dimension"], r["value"])
        out[key] = out.get(key, 0) + r["n"]
    return out


def test_labels_are_slugs_and_free_text_becomes_other() -> None:
    assert slug("ice_at_door") == "ice_at_door" and slug("zh_Hans") == "zh_hans"
    assert slug("Call me at 312 555 0100") == c.OTHER
    assert slug("x" * 41) == c.OTHER and slug("") == c.OTHER
    assert c.disposition_label("Resolved") == "resolved"
    assert c.disposition_label("he said his name was Juan") == c.OTHER
    assert wait_bucket(dt.timedelta(minutes=3)) == "under_5m"
    assert wait_bucket(dt.timedelta(minutes=15)) == "15_60m"
    assert wait_bucket(dt.timedelta(hours=9)) == "over_4h"
    with pytest.raises(ValueError):
        rows_for("tickets_opened", dt.date(2026, 1, 1), dimensions={"resident": "x"})  # no such dimension
    with pytest.raises(ValueError):
        rows_for("no_such_kind", dt.date(2026, 1, 1))


def test_days_are_chicago_days() -> None:
    late = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone.utc)  # 21:00 the evening before
    assert community_day(late) == dt.date(2026, 11, 30)


def test_upsert_counts_every_event_under_concurrency(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.delete(counts))
    counters = Counters(engine)
    threads, each = 6, 25

    def work() -> None:
        for _ in range(each):
            counters.record(c.ALERTS, area="pilsen", language="es")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    found = table(engine)
    assert found[(c.ALERTS, "pilsen", "", "")] == threads * each
    assert found[(c.ALERTS, "pilsen", "language", "es")] == threads * each
    counters.report("pilsen", "checkpoint", "verified")
    counters.record_all([(c.TOPICS, {"topic": "warrant_check", "language": "es"}),
                         (c.TOPICS, {"topic": "warrant_check", "language": "es"})])
    found = table(engine)
    assert found[(c.REPORTS, "pilsen", "outcome", "verified")] == 1
    assert found[(c.TOPICS, "", "topic", "warrant_check")] == 2
    with pytest.raises(ValueError):
        counters.report("pilsen", "checkpoint", "maybe")
    engine.dispose()


def test_each_ticket_effect_counts_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    counters = Counters(engine)
    tickets = TicketService(engine, b"secret", observer=counters.ticket_changed)
    one = tickets.open("r1", "telegram", "ice_at_door", "es", urgent=True)
    assert tickets.open("r1", "telegram", "ice_at_door", "es").id == one.id  # not a second
    two = tickets.open("r2", "whatsapp", "legal_help", "pl")
    assert tickets.escalate(two.id) and not tickets.escalate(two.id)
    tickets.claim(one.id, "vera")
    tickets.transfer(two.id, "sup", "vera", supervisor=True)  # given while waiting: a claim
    tickets.transfer(two.id, "vera", "ola")  # already claimed: not another
    tickets.close(one.id, "vera", "resolved")
    tickets.close(two.id, "ola", "free text a staff member typed about Juan")
    found = table(engine)
    assert found[(c.TICKETS_OPENED, "", "", "")] == 2
    assert found[(c.TICKETS_OPENED, "", "priority", "urgent")] == 1
    assert found[(c.TICKETS_OPENED, "", "channel", "whatsapp")] == 1
    assert found[(c.TICKETS_URGENT, "", "how", "opened")] == 1
    assert found[(c.TICKETS_URGENT, "", "how", "escalated")] == 1
    assert found[(c.TICKETS_CLAIMED, "", "", "")] == 2
    assert found[(c.TICKETS_CLAIMED, "", "wait", "under_5m")] == 2
    assert found[(c.TICKETS_CLOSED, "", "disposition", "resolved")] == 1
    assert found[(c.TICKETS_CLOSED, "", "disposition", "other")] == 1
    # The counts survive the erasure of everything about these residents.
    tickets.erase_resident("r1")
    tickets.erase_resident("r2")
    assert table(engine) == found


def test_a_failed_count_never_breaks_the_effect(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")

    def broken(*args: object) -> None:
        raise RuntimeError("counters down")

    tickets = TicketService(engine, b"secret", observer=broken)
    with pytest.raises(RuntimeError):  # in the same transaction: no ticket without its count
        tickets.open("r1", "telegram", "ice_at_door", "es")
    assert tickets.open_for("r1") is None


def run_script(data_dir: Path, lines: list[dict[str, str]], url: str) -> list[dict]:
    env = dict(os.environ, KYR_DATA_DIR=str(data_dir), KYR_SECRET_KEY="counters-test",
               DATABASE_URL=url, PYTHONPATH=str(PROJECT_ROOT))
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    done = subprocess.run(KYR + ["chat", "--script", "-"], input=body, env=env, cwd=PROJECT_ROOT,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_scripted_day_gives_exactly_the_expected_counts(trained, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          database: str) -> None:
    if database == "postgres":
        reason = postgres_reason()
        if reason:
            pytest.skip(reason)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'kyr.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.delete(counts))
        # Tickets other tests left open on the shared PostgreSQL keep their transcripts
        # rightly; only this test's tickets are checked after the purge.
        before = connection.execute(sa.text("SELECT coalesce(max(id), 0) FROM kyr_tickets")).scalar()
    users = {name: f"{name}-7c1e{i}" for i, name in enumerate(("ana", "ben", "cara", "dan"))}
    said = ["/start es", "hi", "they are knocking hard, my name is Ana Lopez", "/start es"]
    script = [
        {"text": said[0], "user": users["ana"]},
        {"button": "main_menu:menu>@ice_at_door", "user": users["ana"]},
        {"button": "ice_at_door:ask_now>at_door", "user": users["ana"]},  # urgent ticket
        {"text": said[2], "user": users["ana"]},  # goes to staff, counts nothing
        {"text": said[1], "user": users["ben"]},
        {"button": "/human", "user": users["ben"]},  # a ticket, then he stops waiting
        {"button": "/stop", "user": users["ben"]},
        {"text": said[1], "user": users["cara"]},
        {"button": "/delete", "user": users["cara"]},
        {"button": "delete_my_data:confirm>done", "user": users["cara"]},
        {"text": said[3], "user": users["dan"]},
        {"button": "main_menu:menu>@ice_at_door", "user": users["dan"]},
        {"button": "ice_at_door:ask_now>prepare", "user": users["dan"]},
        {"button": "/menu", "user": users["dan"]},  # the menu is not a topic
    ]
    replies = run_script(tmp_path, script, url)
    assert {r["user"] for r in replies} == set(users.values())
    # Staff take Ana's ticket and close it (the console calls the same service).
    counters = Counters(engine)
    tickets = TicketService(engine, b"counters-test", observer=counters.ticket_changed)
    ana = resident_key(b"counters-test", "console", users["ana"])
    ticket = tickets.open_for(ana)
    assert ticket is not None and ticket.priority == "urgent"
    tickets.claim(ticket.id, "vera")
    tickets.close(ticket.id, "vera", "referred to legal help")
    expected = {
        (c.CONVERSATIONS, "", "", ""): 4,
        (c.CONVERSATIONS, "", "channel", "console"): 4,
        # Ana's "they are knocking hard" while waiting is guided through ice_at_door again
        # (main's "never silent in danger"): its first step is shown a second time.
        (c.TOPICS, "", "", ""): 5,
        (c.TOPICS, "", "topic", "ice_at_door"): 3,
        (c.TOPICS, "", "topic", "talk_to_person"): 1,
        (c.TOPICS, "", "topic", "delete_my_data"): 1,
        (c.TICKETS_OPENED, "", "", ""): 2,
        (c.TICKETS_OPENED, "", "channel", "console"): 2,
        (c.TICKETS_OPENED, "", "priority", "urgent"): 1,
        (c.TICKETS_OPENED, "", "priority", "normal"): 1,
        (c.TICKETS_OPENED, "", "topic", "ice_at_door"): 1,
        (c.TICKETS_OPENED, "", "topic", "talk_to_person"): 1,
        (c.TICKETS_URGENT, "", "", ""): 1,
        (c.TICKETS_URGENT, "", "how", "opened"): 1,
        (c.TICKETS_URGENT, "", "topic", "ice_at_door"): 1,
        (c.TICKETS_CLAIMED, "", "", ""): 1,
        (c.TICKETS_CLAIMED, "", "priority", "urgent"): 1,
        # Opened out of the hotline's hours (the real clock here): waited for it to open.
        (c.TICKETS_CLAIMED, "", "wait", "after_hours" if ticket.after_hours else "under_5m"): 1,
        (c.TICKETS_CLOSED, "", "", ""): 2,
        (c.TICKETS_CLOSED, "", "disposition", "resident_stopped"): 1,
        (c.TICKETS_CLOSED, "", "disposition", "referred_legal_help"): 1,
        (c.DELETIONS, "", "", ""): 1,
        (c.DELETIONS, "", "channel", "console"): 1,
    }
    found = table(engine)
    languages = {k[3]: n for k, n in found.items() if k[0] == c.CONVERSATIONS and k[2] == "language"}
    assert sum(languages.values()) == 4 and languages.get("es") == 2  # /start es: in Spanish
    ticket_languages = {k[3]: n for k, n in found.items()
                        if k[0] == c.TICKETS_OPENED and k[2] == "language"}
    assert ticket_languages == {"es": 1, "en": 1}
    without_languages = {k: n for k, n in found.items() if k[2] != "language"}
    assert without_languages == expected
    assert set(found) - set(expected) == {k for k in found if k[2] == "language"}

    # Nothing in the table identifies anyone: no key, id, name or text of this day.
    secrets_seen = set(users.values()) | set(said) | {"Ana", "Lopez", "vera", str(ticket.id)}
    secrets_seen |= {resident_key(b"counters-test", "console", u) for u in users.values()}
    with engine.connect() as connection:
        columns = [col["name"] for col in sa.inspect(connection).get_columns("kyr_counts")]
        rows = connection.execute(sa.select(counts)).all()
    assert sorted(columns) == sorted(["day", "kind", "area", "dimension", "value", "n"])
    for row in rows:
        day, kind, area, dimension, value, n = row
        assert isinstance(day, dt.date) and not isinstance(day, dt.datetime)
        for text in (kind, area, dimension, value):
            assert text == "" or re.fullmatch(r"[a-z0-9_]{1,40}", text), text
            assert not any(s.lower() in text for s in secrets_seen if len(s) > 2 and text), text

    # Purges and erasure take conversations and transcripts, never the counts.
    env = dict(os.environ, KYR_DATA_DIR=str(tmp_path), KYR_SECRET_KEY="counters-test",
               DATABASE_URL=url, PYTHONPATH=str(PROJECT_ROOT), KYR_TRANSCRIPT_HOURS="0")
    done = subprocess.run(KYR + ["purge", "--older-than", "0"], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM kyr_conversations")).scalar() == 0
        assert connection.execute(sa.text("SELECT count(*) FROM kyr_ticket_messages "
                                          "WHERE sealed IS NOT NULL AND ticket_id > :before"),
                                  {"before": before}).scalar() == 0
    assert table(engine) == found
    engine.dispose()


def test_channels_count_failed_deliveries_through_their_context(tmp_path: Path) -> None:
    from bot.channels.base import ChannelContext, count_failed_delivery

    engine = make_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    counters = Counters(engine)
    context = ChannelContext(handle=None, renderer=None, db=engine, secret=b"s",  # type: ignore[arg-type]
                             failed_delivery=counters.delivery_failed)
    count_failed_delivery(context, "whatsapp", "send")
    count_failed_delivery(context, "whatsapp", "status")
    count_failed_delivery(ChannelContext(None, None, engine, b"s"), "telegram", "send")  # type: ignore[arg-type]
    found = table(engine)
    assert found[(c.DELIVERIES_FAILED, "", "", "")] == 2  # the context without a counter: none
    assert found[(c.DELIVERIES_FAILED, "", "path", "status")] == 1
