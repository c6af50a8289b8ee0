"""The report state machine on SQLite and PostgreSQL: every transition with its actor and
time, who may record an outcome, the counts, sealing, and /delete and the retention purge."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.tickets import TicketService
from bot.network import looks_like_address, without_house_numbers
from bot.network.reports import (CONFIRMED, NEW, NOT_CONFIRMED, UNABLE, VERIFYING, Report,
                                 ReportError, ReportService)
from bot.storage.schema import report_events, reports as reports_table
from tests.network.conftest import SECRET, CountedReports


def filed(service: ReportService, **changes: object) -> Report:
    fields: dict[str, object] = dict(area="c24", what=("agents", "vehicles"), when="now",
                                     ongoing=True, language="es", channel="telegram")
    fields.update(changes)
    return service.file(**fields)  # type: ignore[arg-type]


def test_a_report_is_filed_new_by_the_resident(reports: ReportService) -> None:
    report = filed(reports, cross_streets="Division & Ashland")
    assert report.state == NEW and report.area == "c24" and report.what == ("agents", "vehicles")
    assert report.when == "now" and report.ongoing is True and report.verifier is None
    assert report.cross_streets == "Division & Ashland"
    assert [(k, a) for k, a, _ in reports.events(report.id)] == [("filed", "resident")]
    assert report.id in [r.id for r in reports.queue()]
    assert reports.recent(1)[0].id == report.id


@pytest.mark.parametrize("bad", [dict(area="c99"), dict(area="pilsen"), dict(what=()),
                                 dict(what=("tanks",)), dict(when="yesterday")])
def test_a_report_outside_the_vocabulary_is_refused(reports: ReportService, bad: dict) -> None:
    with pytest.raises(ReportError):
        filed(reports, **bad)


@pytest.mark.parametrize("outcome", [CONFIRMED, NOT_CONFIRMED, UNABLE])
def test_assign_then_the_verifier_records_each_outcome(reports: ReportService, counted: CountedReports,
                                                      outcome: str) -> None:
    report = filed(reports, what=("arrest",))
    before = reports.version()
    verifying = reports.assign(report.id, "dora", "vic")
    assert verifying.state == VERIFYING and verifying.verifier == "vic"
    assert reports.version() > before
    decided = reports.record(report.id, "staff:vic", outcome, note="two unmarked vans, gone by 3pm")
    assert decided.state == outcome and decided.decided
    assert decided.outcome_note == "two unmarked vans, gone by 3pm"
    kinds = [(k, a) for k, a, _ in reports.events(report.id)]
    assert kinds == [("filed", "resident"), ("assigned", "staff:dora"), (outcome, "staff:vic")]
    times = [at for _, _, at in reports.events(report.id)]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert counted.calls == [("c24", "arrest", {CONFIRMED: "verified", NOT_CONFIRMED: "not_confirmed",
                                                UNABLE: "unverified"}[outcome], True)]
    assert report.id not in [r.id for r in reports.queue()]


def test_only_the_verifier_or_a_dispatcher_records(reports: ReportService, counted: CountedReports) -> None:
    report = filed(reports)
    with pytest.raises(ReportError, match="only a report being verified"):
        reports.record(report.id, "vic", CONFIRMED)  # nobody sent yet
    reports.assign(report.id, "dora", "vic")
    with pytest.raises(ReportError, match="being verified by vic"):
        reports.record(report.id, "mallory", CONFIRMED)
    with pytest.raises(ReportError, match="outcome must be"):
        reports.record(report.id, "vic", "maybe")
    assert reports.get(report.id).state == VERIFYING and counted.calls == []
    assert reports.record(report.id, "Dora", NOT_CONFIRMED, can_dispatch=True).state == NOT_CONFIRMED
    with pytest.raises(ReportError, match="not_confirmed"):
        reports.record(report.id, "vic", CONFIRMED)  # decided: final
    with pytest.raises(ReportError, match="cannot be assigned"):
        reports.assign(report.id, "dora", "vic")
    assert len(counted.calls) == 1


def test_the_verifier_is_matched_without_regard_to_case(reports: ReportService) -> None:
    report = filed(reports)
    reports.assign(report.id, "dora", "Vic")
    assert reports.record(report.id, "vic", UNABLE).state == UNABLE


def test_reassigning_names_who_is_replaced(reports: ReportService) -> None:
    report = filed(reports)
    reports.assign(report.id, "dora", "vic")
    with pytest.raises(ReportError, match="being verified by vic"):
        reports.assign(report.id, "eli", "wen")  # did not know vic was sent
    with pytest.raises(ReportError, match="being verified by vic"):
        reports.assign(report.id, "eli", "wen", replacing="someone_else")
    moved = reports.assign(report.id, "eli", "wen", replacing="vic")
    assert moved.verifier == "wen"
    assert [(k, a) for k, a, _ in reports.events(report.id)][-1] == ("reassigned", "staff:eli")
    with pytest.raises(ReportError):
        reports.record(report.id, "vic", CONFIRMED)  # no longer theirs
    assert reports.record(report.id, "wen", CONFIRMED).state == CONFIRMED


def test_missing_reports_are_errors(reports: ReportService) -> None:
    for report_id in (0, -1, 10**30, 2**31 - 1):
        with pytest.raises(ReportError, match="does not exist"):
            reports.get(report_id)
    with pytest.raises(ReportError):
        reports.assign(2**31 - 1, "dora", "vic")


def test_queue_puts_ongoing_reports_first(reports: ReportService) -> None:
    earlier = filed(reports, ongoing=False, when="today")
    ongoing = filed(reports, ongoing=True)
    ids = [r.id for r in reports.queue()]
    assert ids.index(ongoing.id) < ids.index(earlier.id)
    reports.assign(earlier.id, "dora", "vic")
    assert earlier.id in [r.id for r in reports.queue()]
    assert earlier.id not in [r.id for r in reports.queue(states=(NEW,))]


def test_sealed_columns_hold_no_plaintext(engine: Engine, reports: ReportService) -> None:
    report = filed(reports, cross_streets="Cermak & Blue Island")
    reports.assign(report.id, "dora", "vic")
    reports.record(report.id, "vic", CONFIRMED, note="ICE vests near the bakery")
    with engine.connect() as connection:
        row = connection.execute(sa.select(reports_table).where(
            reports_table.c.id == report.id)).mappings().one()
    raw = " ".join(str(v) for v in row.values())
    assert "Cermak" not in raw and "Blue Island" not in raw and "bakery" not in raw
    assert row["cross_streets"] and row["outcome_note"]
    assert ReportService(engine, SECRET).get(report.id).cross_streets == "Cermak & Blue Island"
    other_key = ReportService(engine, b"another-secret").get(report.id)
    assert other_key.cross_streets is None and other_key.outcome_note is None


def test_a_house_number_is_not_kept(reports: ReportService) -> None:
    report = filed(reports, cross_streets="1234 W 18th St & Blue Island")
    assert report.cross_streets == "W 18th St & Blue Island"
    assert without_house_numbers("Route 66 and 26th St") == "Route 66 and 26th St"
    assert looks_like_address("outside 4512 N Kedzie Ave now")
    assert not looks_like_address("agents at 14:30 near Kedzie and Lawrence")


def test_forgetting_a_ticket_cuts_the_link_and_the_streets(engine: Engine, reports: ReportService) -> None:
    tickets = TicketService(engine, SECRET)
    ticket = tickets.open(f"test-{id(engine)}-{dt.datetime.now().timestamp()}", "telegram",
                          "report_activity", "es", urgent=True)
    report = filed(reports, ticket_id=ticket.id, cross_streets="Cermak & Blue Island")
    other = filed(reports, cross_streets="Cermak & Blue Island")
    assert reports.forget_resident(ticket.resident) == 1
    forgotten = reports.get(report.id)
    assert forgotten.ticket_id is None and forgotten.cross_streets is None
    assert forgotten.area == "c24" and forgotten.state == NEW
    assert reports.get(other.id).cross_streets == "Cermak & Blue Island"


def test_purge_deletes_old_reports_and_their_events(engine: Engine, reports: ReportService) -> None:
    old, fresh = filed(reports), filed(reports)
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(sa.update(reports_table).where(reports_table.c.id == old.id).values(
            created_at=long_ago))
    assert reports.purge(dt.timedelta(days=30)) >= 1
    with pytest.raises(ReportError):
        reports.get(old.id)
    assert reports.events(old.id) == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(report_events).where(
            report_events.c.report_id == old.id)).scalar() == 0
    assert reports.get(fresh.id).state == NEW


@pytest.mark.parametrize("nobody", ["", "staff:", "two words"])
def test_every_change_names_who(reports: ReportService, nobody: str) -> None:
    report = filed(reports)
    with pytest.raises(ReportError, match="name"):
        reports.assign(report.id, nobody, "vic")
    with pytest.raises(ReportError, match="name"):
        reports.assign(report.id, "dora", nobody)
    reports.assign(report.id, "dora", "vic")
    with pytest.raises(ReportError, match="name"):
        reports.record(report.id, nobody, CONFIRMED, can_dispatch=True)
    assert reports.get(report.id).state == VERIFYING


def test_decided_reports_reach_the_transparency_counts(engine: Engine) -> None:
    from bot.app.counters import REPORTS, Counters, community_day

    counters = Counters(engine)
    service = ReportService(engine, SECRET, counters=counters)
    today = community_day()
    end = today + dt.timedelta(days=1)

    def counted() -> dict[str, int]:
        return dict(counters.totals(REPORTS, today, end, "outcome"))

    before = counted()
    for outcome in (CONFIRMED, NOT_CONFIRMED, UNABLE, UNABLE):
        report = filed(service, what=("checkpoint", "agents"))
        service.assign(report.id, "dora", "vic")
        service.record(report.id, "vic", outcome)
    filed(service)  # not decided: not counted
    after = counted()
    assert {k: after.get(k, 0) - before.get(k, 0) for k in ("verified", "not_confirmed", "unverified",
                                                            "pending")} == {
        "verified": 1, "not_confirmed": 1, "unverified": 2, "pending": 0}
    kinds = counters.totals(REPORTS, today, end, "report")
    assert kinds.get("checkpoint", 0) >= 4  # the first thing seen names the report
