"""The alert state machine on SQLite and PostgreSQL: every transition, the two-person rule
(nobody approves their own, approval needs the dispatcher role), what an alert may follow,
expiry, no address, and sealing of the staff's own words."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.network.alerts import (ALERT, ALL_CLEAR, APPROVED, CORRECTION, DRAFT, MAX_EXPIRY,
                                SENDING, SENT, WITHDRAWN, Alert, AlertError, AlertService)
from bot.network.reports import CONFIRMED, NOT_CONFIRMED, ReportService
from bot.storage.schema import alerts as alerts_table
from tests.network.conftest import SECRET, in_hours


def confirmed_report(reports: ReportService, outcome: str = CONFIRMED) -> int:
    report = reports.file(area="c31", what=("agents",), when="now", ongoing=True,
                          language="es", channel="whatsapp")
    reports.assign(report.id, "dora", "vic")
    return reports.record(report.id, "vic", outcome).id


def drafted(alerts: AlertService, reports: ReportService, author: str = "ana", **changes: object) -> Alert:
    fields: dict[str, object] = dict(kind=ALERT, areas=("c31", "c30"), template="alerts.template_agents",
                                     params={"what": "agents", "time": "14:30"},
                                     expires_at=in_hours(4))
    if "report_id" not in changes and changes.get("kind", ALERT) == ALERT:
        fields["report_id"] = confirmed_report(reports)
    fields.update(changes)
    return alerts.draft(author, **fields)  # type: ignore[arg-type]


def test_draft_approve_sending_sent_with_every_actor(alerts: AlertService, reports: ReportService) -> None:
    before = alerts.version()
    alert = drafted(alerts, reports, free_text={"es": "Eviten la calle 26 esta tarde"})
    assert alert.state == DRAFT and alert.kind == ALERT and alert.areas == ("c31", "c30")
    assert alert.params == {"what": "agents", "time": "14:30"} and alert.drafted_by == "staff:ana"
    assert alert.free_text == {"es": "Eviten la calle 26 esta tarde"} and alert.approved_by is None
    assert alerts.version() > before
    approved = alerts.approve(alert.id, "staff:ben", can_dispatch=True)
    assert approved.state == APPROVED and approved.approved_by == "staff:ben" and approved.approved_at
    assert alerts.mark(alert.id, SENDING).state == SENDING
    assert alerts.mark(alert.id, SENT).state == SENT
    events = alerts.events(alert.id)
    assert [(k, a) for k, a, _ in events] == [("drafted", "staff:ana"), ("approved", "staff:ben"),
                                             ("sending", "bot"), ("sent", "bot")]
    assert [at for _, _, at in events] == sorted(at for _, _, at in events)
    assert alerts.list(5)[0].id == alert.id
    assert alert.id in [a.id for a in alerts.list(50, states=(SENT,))]
    assert alert.id not in [a.id for a in alerts.list(50, states=(DRAFT,))]


def test_nobody_approves_their_own_draft(alerts: AlertService, reports: ReportService) -> None:
    alert = drafted(alerts, reports, author="ana")
    for same in ("ana", "staff:ana", "Ana", "staff:ANA"):
        with pytest.raises(AlertError, match="not the one who drafted"):
            alerts.approve(alert.id, same, can_dispatch=True)
    assert alerts.get(alert.id).state == DRAFT
    assert [k for k, _, _ in alerts.events(alert.id)] == ["drafted"]


def test_approval_needs_the_dispatcher_role(alerts: AlertService, reports: ReportService) -> None:
    alert = drafted(alerts, reports)
    with pytest.raises(AlertError, match="dispatcher"):
        alerts.approve(alert.id, "ben", can_dispatch=False)
    assert alerts.get(alert.id).state == DRAFT
    assert alerts.approve(alert.id, "ben", can_dispatch=True).state == APPROVED
    with pytest.raises(AlertError, match="only a draft"):
        alerts.approve(alert.id, "cho", can_dispatch=True)  # approved once is enough


def test_an_alert_needs_a_confirmed_report(alerts: AlertService, reports: ReportService) -> None:
    with pytest.raises(AlertError, match="from a confirmed report"):
        drafted(alerts, reports, report_id=None)
    with pytest.raises(AlertError, match="not_confirmed"):
        drafted(alerts, reports, report_id=confirmed_report(reports, NOT_CONFIRMED))
    waiting = reports.file(area="c31", what=("agents",), when="now", ongoing=True,
                           language="es", channel="whatsapp")
    with pytest.raises(AlertError, match="is new"):
        drafted(alerts, reports, report_id=waiting.id)
    with pytest.raises(AlertError, match="does not exist"):
        drafted(alerts, reports, report_id=2**31 - 1)
    count = len(alerts.list(10**6))
    with pytest.raises(AlertError):
        drafted(alerts, reports, report_id=waiting.id)
    assert len(alerts.list(10**6)) == count  # a refused draft leaves no row


@pytest.mark.parametrize("kind", [ALL_CLEAR, CORRECTION])
def test_all_clear_and_correction_follow_an_approved_alert(alerts: AlertService, reports: ReportService,
                                                           kind: str) -> None:
    first = drafted(alerts, reports)
    with pytest.raises(AlertError, match="names the alert it follows"):
        drafted(alerts, reports, kind=kind, template="alerts.template_all_clear")
    with pytest.raises(AlertError, match="only an approved alert"):
        drafted(alerts, reports, kind=kind, parent_id=first.id, template="alerts.template_all_clear")
    with pytest.raises(AlertError, match="does not exist"):
        drafted(alerts, reports, kind=kind, parent_id=2**31 - 1, template="alerts.template_all_clear")
    alerts.approve(first.id, "ben", can_dispatch=True)
    follow = drafted(alerts, reports, author="ben", kind=kind, parent_id=first.id,
                     template="alerts.template_all_clear")
    assert follow.kind == kind and follow.parent_id == first.id and follow.report_id == first.report_id
    assert alerts.approve(follow.id, "ana", can_dispatch=True).state == APPROVED
    assert [a.id for a in alerts.followers(first.id)] == [follow.id]
    with pytest.raises(AlertError, match="follows no other"):
        drafted(alerts, reports, parent_id=first.id)


def test_expiry_is_in_the_future_and_bounded(alerts: AlertService, reports: ReportService) -> None:
    with pytest.raises(AlertError, match="future"):
        drafted(alerts, reports, expires_at=in_hours(-0.1))
    with pytest.raises(AlertError, match="expires within"):
        drafted(alerts, reports, expires_at=in_hours(MAX_EXPIRY.total_seconds() / 3600 + 0.1))
    with pytest.raises(AlertError, match="time zone"):
        drafted(alerts, reports, expires_at=dt.datetime.utcnow() + dt.timedelta(hours=1))
    assert drafted(alerts, reports, expires_at=in_hours(23.9)).state == DRAFT


def test_an_expired_draft_is_not_approved(engine: Engine, alerts: AlertService,
                                          reports: ReportService) -> None:
    alert = drafted(alerts, reports)
    with engine.begin() as connection:
        connection.execute(sa.update(alerts_table).where(alerts_table.c.id == alert.id).values(
            expires_at=in_hours(-1)))
    assert alerts.get(alert.id).expired()
    with pytest.raises(AlertError, match="expired"):
        alerts.approve(alert.id, "ben", can_dispatch=True)


@pytest.mark.parametrize("bad", [
    dict(areas=()), dict(areas=("c24", "c99")), dict(kind="rumour"),
    dict(template="danger.words_now"), dict(template="alerts.x'; drop"),
    dict(params={"place": "1234 W 18th St"}), dict(params={"Bad Name": "x"}),
    dict(params={"what": "x" * 61}),
    dict(free_text={"es": "agentes en 2650 S Pulaski Rd"}), dict(free_text={"not a lang": "hola"}),
])
def test_what_an_alert_may_not_hold(alerts: AlertService, reports: ReportService, bad: dict) -> None:
    with pytest.raises(AlertError):
        drafted(alerts, reports, **bad)


def test_withdraw_before_sending_only(alerts: AlertService, reports: ReportService) -> None:
    draft = drafted(alerts, reports)
    assert alerts.withdraw(draft.id, "ana").state == WITHDRAWN
    with pytest.raises(AlertError, match="only a draft"):
        alerts.approve(draft.id, "ben", can_dispatch=True)
    approved = drafted(alerts, reports)
    alerts.approve(approved.id, "ben", can_dispatch=True)
    assert alerts.withdraw(approved.id, "ben").state == WITHDRAWN
    with pytest.raises(AlertError, match="withdrawn"):
        alerts.mark(approved.id, SENDING)  # the broadcaster finds it withdrawn
    going = drafted(alerts, reports)
    alerts.approve(going.id, "ben", can_dispatch=True)
    alerts.mark(going.id, SENDING)
    with pytest.raises(AlertError, match="correction"):
        alerts.withdraw(going.id, "ana")
    assert [(k, a) for k, a, _ in alerts.events(draft.id)] == [("drafted", "staff:ana"),
                                                              ("withdrawn", "staff:ana")]


def test_the_broadcaster_marks_in_order_and_once(alerts: AlertService, reports: ReportService) -> None:
    alert = drafted(alerts, reports)
    with pytest.raises(AlertError):
        alerts.mark(alert.id, SENDING)  # not approved
    alerts.approve(alert.id, "ben", can_dispatch=True)
    with pytest.raises(AlertError):
        alerts.mark(alert.id, SENT)  # not sending yet
    with pytest.raises(AlertError):
        alerts.mark(alert.id, APPROVED)  # not the broadcaster's to make
    alerts.mark(alert.id, SENDING)
    with pytest.raises(AlertError):
        alerts.mark(alert.id, SENDING)  # a second broadcaster
    alerts.mark(alert.id, SENT)
    assert alerts.get(alert.id).state == SENT


def test_free_text_is_sealed(engine: Engine, alerts: AlertService, reports: ReportService) -> None:
    alert = drafted(alerts, reports, free_text={"es": "Eviten la calle 26 esta tarde", "en": ""})
    assert alert.free_text == {"es": "Eviten la calle 26 esta tarde"}
    with engine.connect() as connection:
        row = connection.execute(sa.select(alerts_table).where(
            alerts_table.c.id == alert.id)).mappings().one()
    assert "calle" not in " ".join(str(v) for v in row.values())
    assert AlertService(engine, b"another-secret").get(alert.id).free_text == {}
    assert AlertService(engine, SECRET).get(alert.id).free_text == alert.free_text
    assert drafted(alerts, reports).free_text == {}


def test_missing_alerts_are_errors(alerts: AlertService) -> None:
    for alert_id in (0, 10**30, 2**31 - 1):
        with pytest.raises(AlertError, match="does not exist"):
            alerts.get(alert_id)
    with pytest.raises(AlertError, match="does not exist"):
        alerts.approve(2**31 - 1, "ben", can_dispatch=True)


def test_an_alert_that_expired_waiting_does_not_go_out(engine: Engine, alerts: AlertService,
                                                        reports: ReportService) -> None:
    alert = drafted(alerts, reports)
    alerts.approve(alert.id, "ben", can_dispatch=True)
    with engine.begin() as connection:  # the bot was down for hours after the approval
        connection.execute(sa.update(alerts_table).where(alerts_table.c.id == alert.id).values(
            expires_at=in_hours(-1)))
    with pytest.raises(AlertError, match="expired before it went out"):
        alerts.mark(alert.id, SENDING)
    assert alerts.get(alert.id).state == APPROVED


@pytest.mark.parametrize("nobody", ["", "staff:", "two words"])
def test_every_change_names_who(alerts: AlertService, reports: ReportService, nobody: str) -> None:
    with pytest.raises(AlertError, match="name"):
        drafted(alerts, reports, author=nobody)
    alert = drafted(alerts, reports)
    with pytest.raises(AlertError, match="name"):
        alerts.approve(alert.id, nobody, can_dispatch=True)
    with pytest.raises(AlertError, match="name"):
        alerts.withdraw(alert.id, nobody)


def test_purge_deletes_expired_alerts_with_their_followers_and_events(
        engine: Engine, alerts: AlertService, reports: ReportService) -> None:
    def sent_alert() -> Alert:
        alert = drafted(alerts, reports)
        alerts.approve(alert.id, "ben", can_dispatch=True)
        alerts.mark(alert.id, SENDING)
        return alerts.mark(alert.id, SENT)

    def age(*ids: int) -> None:
        long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
        with engine.begin() as connection:
            connection.execute(sa.update(alerts_table).where(alerts_table.c.id.in_(ids)).values(
                expires_at=long_ago, updated_at=long_ago))

    old, fresh = sent_alert(), sent_alert()
    clear = drafted(alerts, reports, author="ben", kind=ALL_CLEAR, parent_id=old.id,
                    template="alerts.template_all_clear")
    kept = sent_alert()  # old itself, but its correction is recent: the chain stays
    correction = drafted(alerts, reports, author="ben", kind=CORRECTION, parent_id=kept.id,
                         template="alerts.template_all_clear")
    stuck = sent_alert()
    with engine.begin() as connection:  # still going out when it expired: never purged
        connection.execute(sa.update(alerts_table).where(alerts_table.c.id == stuck.id).values(
            state=SENDING))
    age(old.id, clear.id, kept.id, stuck.id)

    assert alerts.purge(dt.timedelta(days=30)) >= 2
    for gone in (old.id, clear.id):
        with pytest.raises(AlertError, match="does not exist"):
            alerts.get(gone)
        assert alerts.events(gone) == []
    for stays in (fresh.id, kept.id, correction.id, stuck.id):
        assert alerts.get(stays).id == stays
    assert alerts.purge(dt.timedelta(days=30)) == 0
