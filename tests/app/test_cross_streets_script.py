"""The report's nearest cross streets in script mode: the real Rasa turn, flows, catalogs
and services (TestBot). What is typed there reaches the report, sealed, and nothing else
keeps it in clear: not the tracker row, its slots, the transcript, another table, the
database file or the logs; a home address typed there is kept nowhere at all."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.conversation import STREETS_LINES
from bot.app.services import Services
from bot.core.dialogue import STREETS_REFUSED, STREETS_TAKEN
from bot.core.streets import HOME_ADDRESS
from bot.handoff.tickets import REPLY, SYSTEM, Ticket
from bot.network.reports import Report
from bot.testing import TestBot
from tests.app.test_alerts_script import resident

# No content, catalog or test data names these streets: finding them means they were kept.
STREETS = "Cermak & Komensky"
HOME = "2417 S Keeler Ave"


async def at_streets(services: Services, bot: TestBot, lang: str = "en") -> Ticket:
    """A report in `lang` up to "nearest cross streets?", by payload (any language)."""
    await bot.say(f"/lang {lang}")
    await bot.press_payload("main_menu:more>@report_activity")
    await bot.press_payload("report_activity:ask_safe>call")  # safe: the urgent ticket opens
    ticket = services.tickets.open_for(resident(services, bot))
    assert ticket is not None
    await bot.press_payload("report_activity:call>what")
    await bot.press_payload("report_activity:what>where")  # agents
    replies = await bot.say("Little Village")
    assert bot.where == ("report_activity", "streets")
    assert replies[-1].text == services.renderer.text(lang, "report_activity.ask_streets")
    skip = services.renderer.label(lang, "report_activity.opt_skip")
    assert skip in [b.title for b in replies[-1].buttons]
    return ticket


async def filed(services: Services, bot: TestBot, ticket: Ticket) -> Report:
    await bot.press_payload("report_activity:when>ongoing")  # now
    await bot.press_payload("report_activity:ongoing>filed")  # still happening
    assert bot.where == ("report_activity", "filed")
    found = [r for r in services.reports.recent(200) if r.ticket_id == ticket.id]
    assert len(found) == 1
    return found[0]


def transcript(services: Services, ticket: Ticket) -> list[tuple[str, str]]:
    return [(m.kind, m.text or "") for m in services.tickets.messages(ticket.id)]


@pytest.mark.parametrize("lang, typed, kept", [
    ("en", STREETS, STREETS), ("es", "Cermak y Komensky, 2417", "Cermak y Komensky")])
async def test_typed_cross_streets_are_on_the_report_and_not_in_the_transcript(
        services: Services, bot: TestBot, lang: str, typed: str, kept: str) -> None:
    ticket = await at_streets(services, bot, lang)
    replies = await bot.say(typed)
    assert bot.where == ("report_activity", "when")
    assert not any("Komensky" in r.text for r in replies)  # never echoed (nor in the outbox)
    report = await filed(services, bot, ticket)
    assert (report.area, report.what, report.cross_streets, report.language) == \
        ("c30", ("agents",), kept, lang)
    lines = transcript(services, ticket)
    assert (SYSTEM, STREETS_LINES[STREETS_TAKEN]) in lines
    assert not any("Komensky" in text for _, text in lines)


async def test_while_staff_talk_typed_cross_streets_still_answer_the_report(
        services: Services, bot: TestBot) -> None:
    ticket = await at_streets(services, bot)
    services.tickets.add_message(ticket.id, "staff:ana", REPLY, "Where exactly?")
    await bot.say(STREETS)
    assert bot.where == ("report_activity", "when")
    assert (await filed(services, bot, ticket)).cross_streets == STREETS


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_a_home_address_is_refused_in_the_residents_language_and_kept_nowhere(
        services: Services, bot: TestBot, lang: str) -> None:
    ticket = await at_streets(services, bot, lang)
    replies = await bot.say(HOME)
    assert [r.text for r in replies] == [services.renderer.text(lang, HOME_ADDRESS)]
    assert services.renderer.label(lang, "report_activity.opt_skip") in \
        [b.title for b in replies[-1].buttons]  # asked again, or skip
    assert bot.where == ("report_activity", "streets")
    await bot.say(STREETS)  # then real cross streets are taken
    report = await filed(services, bot, ticket)
    assert report.cross_streets == STREETS
    lines = transcript(services, ticket)
    assert (SYSTEM, STREETS_LINES[STREETS_REFUSED]) in lines
    assert not any("Keeler" in text or "2417" in text for _, text in lines)


@pytest.mark.parametrize("lang, answer", [("en", "skip"), ("en", "I don't know"), ("es", "no sé"),
                                          ("es", "omitir"), ("en", None), ("es", None)])
async def test_skip_typed_or_tapped_files_the_report_without_cross_streets(
        services: Services, bot: TestBot, lang: str, answer: str | None) -> None:
    ticket = await at_streets(services, bot, lang)
    if answer is None:
        await bot.press(services.renderer.label(lang, "report_activity.opt_skip"))
    else:
        await bot.say(answer)
    assert bot.where == ("report_activity", "when")
    report = await filed(services, bot, ticket)
    assert report.cross_streets is None and report.area == "c30"


def kept_in_clear(db: Engine, *words: str) -> list[str]:
    """Every table and column that holds one of `words` in clear, read back whole."""
    found = []
    tables = sa.MetaData()
    tables.reflect(bind=db)
    with db.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    found += [f"{table.name}.{column}" for w in words if w in text]
    return found


async def report_then_refuse(services: Services, bot: TestBot) -> Report:
    ticket = await at_streets(services, bot)
    await bot.say(HOME)
    await bot.say(STREETS)
    return await filed(services, bot, ticket)


async def test_the_database_file_keeps_the_cross_streets_sealed_only(
        services: Services, bot: TestBot, caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    """The raw SQLite file (and its WAL) after the flow, every table read back, and what
    the turn logged or printed: the street names appear nowhere, yet the report opens
    them for staff."""
    with caplog.at_level(logging.DEBUG):
        report = await report_then_refuse(services, bot)
    assert report.cross_streets == STREETS
    assert kept_in_clear(services.db, "Komensky", "Keeler") == []
    with services.db.connect() as connection:
        sealed = connection.execute(sa.text("SELECT cross_streets FROM kyr_reports WHERE id = :id"),
                                    {"id": report.id}).scalar()
        connection.execute(sa.text("PRAGMA wal_checkpoint(PASSIVE)"))
    assert sealed and "Komensky" not in sealed
    database = Path(str(services.db.url.database))
    files = [p for p in (database, Path(f"{database}-wal")) if p.exists()]
    assert database in files
    for path in files:
        raw = path.read_bytes()
        assert b"Komensky" not in raw and b"Keeler" not in raw, path
    out, err = capfd.readouterr()
    assert not any(w in caplog.text + out + err for w in ("Komensky", "Keeler"))


async def test_cross_streets_are_sealed_only_on_postgresql(services: Services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same flow on PostgreSQL: every table read back holds the streets sealed only."""
    from tests.conftest import HOTLINE_OPEN, postgres_services

    with postgres_services(tmp_path) as pg:
        pg.conversation.clock = lambda: HOTLINE_OPEN
        bot = TestBot(pg.conversation, f"pg-streets-{tmp_path.name}")
        report = await report_then_refuse(pg, bot)
        assert report.cross_streets == STREETS
        assert kept_in_clear(pg.db, "Komensky", "Keeler") == []
        await pg.residents.erase(resident(pg, bot))
