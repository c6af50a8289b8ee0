"""Any sequence of actions by anyone leaves a report or an alert in a state its events
explain, and never approved by its author or without a dispatcher (SQLite and PostgreSQL)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.network.alerts import (ALERT, APPROVED, DRAFT, SENDING, SENT, STATES, WITHDRAWN,
                                AlertError, AlertService)
from bot.network.reports import (CONFIRMED, NEW, OUTCOMES, STATES as REPORT_STATES, VERIFYING,
                                 ReportError, ReportService)
from tests.network.conftest import in_hours

PEOPLE = st.sampled_from(["ana", "ben", "cho"])
REPORT_OPS = st.lists(st.tuples(st.sampled_from(["assign", "reassign", "record", "dispatch"]),
                                PEOPLE, st.sampled_from(OUTCOMES)), max_size=8)
ALERT_OPS = st.lists(st.tuples(st.sampled_from(["approve", "approve_plain", "withdraw", "sending",
                                                "sent"]), PEOPLE), max_size=8)
FUZZ = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@hsettings(**FUZZ)  # type: ignore[arg-type]
@given(REPORT_OPS)
def test_any_report_sequence_is_consistent(reports: ReportService, ops: list) -> None:  # type: ignore[type-arg]
    report = reports.file(area="c24", what=("agents",), when="now", ongoing=True,
                          language="es", channel="telegram")
    for op, person, outcome in ops:
        current = reports.get(report.id)
        try:
            if op == "assign":
                reports.assign(report.id, "dora", person)
            elif op == "reassign":
                reports.assign(report.id, "dora", person, replacing=current.verifier or "x")
            elif op == "record":
                reports.record(report.id, person, outcome)
            else:
                reports.record(report.id, "dora", outcome, can_dispatch=True)
        except ReportError:
            assert reports.get(report.id) == current  # a refused change changes nothing
        now = reports.get(report.id)
        assert now.state in REPORT_STATES and (now.verifier is None) == (now.state == NEW)
        kinds = [k for k, _, _ in reports.events(report.id)]
        assert kinds[0] == "filed" and kinds.count("assigned") == (now.state != NEW)
        assert sum(kinds.count(o) for o in OUTCOMES) == (now.state in OUTCOMES)
        if now.state in OUTCOMES:
            assert kinds[-1] == now.state
        if now.state == VERIFYING:
            assert kinds[-1] in ("assigned", "reassigned")


@hsettings(**FUZZ)  # type: ignore[arg-type]
@given(ALERT_OPS)
def test_any_alert_sequence_is_consistent(alerts: AlertService, reports: ReportService,
                                          ops: list) -> None:  # type: ignore[type-arg]
    report = reports.file(area="c24", what=("agents",), when="now", ongoing=True,
                          language="es", channel="telegram")
    reports.assign(report.id, "dora", "vic")
    reports.record(report.id, "vic", CONFIRMED)
    alert = alerts.draft("ana", kind=ALERT, areas=("c24",), template="alerts.template_agents",
                         params={}, expires_at=in_hours(1), report_id=report.id)
    for op, person in ops:
        current = alerts.get(alert.id)
        try:
            if op == "approve":
                alerts.approve(alert.id, person, can_dispatch=True)
            elif op == "approve_plain":
                alerts.approve(alert.id, person, can_dispatch=False)
            elif op == "withdraw":
                alerts.withdraw(alert.id, person)
            else:
                alerts.mark(alert.id, SENDING if op == "sending" else SENT)
        except AlertError:
            assert alerts.get(alert.id) == current
        now = alerts.get(alert.id)
        kinds = [k for k, _, _ in alerts.events(alert.id)]
        assert now.state in STATES and kinds[0] == "drafted" and kinds.count("approved") <= 1
        assert (now.approved_by is not None) == ("approved" in kinds)
        assert now.approved_by != "staff:ana"  # never its author
        if now.state != DRAFT:
            assert kinds[-1] == now.state
        if now.state in (SENDING, SENT):
            assert kinds[1:3] == ["approved", SENDING]
        if now.state == WITHDRAWN:
            assert SENDING not in kinds
        if now.state == APPROVED:
            assert kinds == ["drafted", "approved"]
