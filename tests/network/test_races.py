"""Two people acting on the same report or alert at the same instant, on SQLite and
PostgreSQL: exactly one wins, the other is told, and the events say what happened once."""

from __future__ import annotations

import threading
import uuid
from typing import Callable

from sqlalchemy.engine import Engine

from bot.network.alerts import ALERT, APPROVED, SENDING, WITHDRAWN, AlertError, AlertService
from bot.network.reports import CONFIRMED, NOT_CONFIRMED, VERIFYING, ReportError, ReportService
from bot.network.subscriptions import Subscriptions
from tests.network.conftest import CountedReports, in_hours

ROUNDS = 5


def race(actions: dict[str, Callable[[], object]], error: type[Exception]) -> dict[str, str]:
    """Run each action in its own thread, released together; name -> "won" | "told"."""
    barrier = threading.Barrier(len(actions))
    results: dict[str, str] = {}

    def run(name: str, action: Callable[[], object]) -> None:
        barrier.wait(timeout=10)
        try:
            action()
            results[name] = "won"
        except error:
            results[name] = "told"
        except Exception as exc:  # anything else (a lock timeout) fails the test below
            results[name] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=item) for item in actions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == ["told", "won"], results
    return results


def winner(results: dict[str, str]) -> str:
    return next(name for name, result in results.items() if result == "won")


def new_report(reports: ReportService) -> int:
    return reports.file(area="c24", what=("agents",), when="now", ongoing=True,
                        language="es", channel="telegram").id


def confirmed(reports: ReportService) -> int:
    report_id = new_report(reports)
    reports.assign(report_id, "dora", "vic")
    return reports.record(report_id, "vic", CONFIRMED).id


def a_draft(alerts: AlertService, reports: ReportService) -> int:
    return alerts.draft("ana", kind=ALERT, areas=("c24",), template="alerts.template_agents",
                        params={"time": "14:30"}, expires_at=in_hours(2),
                        report_id=confirmed(reports)).id


def test_two_dispatchers_assigning_at_once(reports: ReportService) -> None:
    for _ in range(ROUNDS):
        report_id = new_report(reports)
        results = race({"dora": lambda: reports.assign(report_id, "dora", "vic"),
                        "eli": lambda: reports.assign(report_id, "eli", "wen")}, ReportError)
        sent = {"dora": "vic", "eli": "wen"}[winner(results)]
        report = reports.get(report_id)
        assert report.state == VERIFYING and report.verifier == sent
        assert [a for k, a, _ in reports.events(report_id) if k.endswith("assigned")] == [
            f"staff:{winner(results)}"]


def test_two_outcomes_recorded_at_once(reports: ReportService, counted: CountedReports) -> None:
    for _ in range(ROUNDS):
        report_id = new_report(reports)
        reports.assign(report_id, "dora", "vic")
        counted.calls.clear()
        results = race({
            CONFIRMED: lambda: reports.record(report_id, "vic", CONFIRMED),
            NOT_CONFIRMED: lambda: reports.record(report_id, "dora", NOT_CONFIRMED, can_dispatch=True),
        }, ReportError)
        assert reports.get(report_id).state == winner(results)
        assert [k for k, _, _ in reports.events(report_id)][-1] == winner(results)
        assert len(counted.calls) == 1  # counted once, by the winner


def test_two_approvers_at_once(alerts: AlertService, reports: ReportService) -> None:
    for _ in range(ROUNDS):
        alert_id = a_draft(alerts, reports)
        results = race({"ben": lambda: alerts.approve(alert_id, "ben", can_dispatch=True),
                        "cho": lambda: alerts.approve(alert_id, "cho", can_dispatch=True)},
                       AlertError)
        alert = alerts.get(alert_id)
        assert alert.state == APPROVED and alert.approved_by == f"staff:{winner(results)}"
        assert [k for k, _, _ in alerts.events(alert_id)].count("approved") == 1


def test_approval_and_withdrawal_at_once_leave_one_story(alerts: AlertService,
                                                         reports: ReportService) -> None:
    for _ in range(ROUNDS):
        alert_id = a_draft(alerts, reports)
        # A withdrawal may also follow an approval (approved -> withdrawn): then both win.
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def act(action: Callable[[], object], name: str) -> None:
            barrier.wait(timeout=10)
            try:
                action()
                outcomes.append(name)
            except AlertError:
                outcomes.append("told")

        threads = [threading.Thread(target=act, args=(lambda: alerts.approve(
                       alert_id, "ben", can_dispatch=True), "approved")),
                   threading.Thread(target=act, args=(lambda: alerts.withdraw(alert_id, "ana"),
                                                      "withdrawn"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        kinds = [k for k, _, _ in alerts.events(alert_id)]
        assert alerts.get(alert_id).state == WITHDRAWN  # withdrawn, approved first or not
        if "approved" in outcomes:  # approved first, then withdrawn before it went out
            assert kinds == ["drafted", "approved", "withdrawn"]
        else:  # withdrawn first: the approval was refused
            assert sorted(outcomes) == ["told", "withdrawn"]
            assert kinds == ["drafted", "withdrawn"] and alerts.get(alert_id).approved_by is None


def test_two_broadcasters_starting_the_same_alert(alerts: AlertService, reports: ReportService) -> None:
    for _ in range(ROUNDS):
        alert_id = a_draft(alerts, reports)
        alerts.approve(alert_id, "ben", can_dispatch=True)
        race({"one": lambda: alerts.mark(alert_id, SENDING),
              "two": lambda: alerts.mark(alert_id, SENDING)}, AlertError)
        assert [k for k, _, _ in alerts.events(alert_id)].count(SENDING) == 1


def test_one_resident_subscribing_twice_at_once_has_one_subscription(engine: Engine) -> None:
    subscriptions = Subscriptions(engine)
    for _ in range(ROUNDS):
        resident = f"test-{uuid.uuid4().hex}"
        barrier = threading.Barrier(2)
        failed: list[str] = []

        def subscribe(areas: tuple[str, ...]) -> None:
            barrier.wait(timeout=10)
            try:
                subscriptions.subscribe(resident, "telegram", "es", areas, "button", "v1")
            except Exception as exc:  # a double tap must not fail either message
                failed.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=subscribe, args=(areas,))
                   for areas in (("c24",), ("c22", "c23"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert failed == []
        found = subscriptions.get(resident)
        assert found is not None and found.areas in (("c24",), ("c22", "c23"))  # one, not both
        subscriptions.stop(resident)
