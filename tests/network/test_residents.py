"""What the application layer's owner of resident data does with the network's rows:
/delete removes the subscription and every address and cuts reports from the resident;
the retention purge removes old reports and keeps a subscriber's address while they stay."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.residents import ALERTS, PURPOSES, TICKET, Residents
from bot.handoff.tickets import TicketService
from bot.network.alerts import ALERT, AlertError, AlertService
from bot.network.reports import CONFIRMED, ReportError, ReportService
from bot.network.subscriptions import Subscriptions
from bot.storage.schema import addresses, alerts as alerts_table, reports as reports_table
from bot.storage.tracker_store import KyrTrackerStore
from tests.network.conftest import SECRET

LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def residents(engine: Engine, reports: ReportService, subscriptions: Subscriptions,
              alerts: AlertService) -> Residents:
    return Residents(engine, SECRET, TicketService(engine, SECRET), KyrTrackerStore(None, engine),
                     reports=reports, subscriptions=subscriptions, alerts=alerts)


def someone() -> str:
    return f"test-{uuid.uuid4().hex}"


def purposes_kept(engine: Engine, resident: str) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(sa.select(addresses.c.purpose).where(
            addresses.c.resident == resident)).scalars())


def test_alerts_is_a_purpose() -> None:
    assert ALERTS == "alerts" and ALERTS in PURPOSES and TICKET in PURPOSES


def test_delete_removes_the_subscription_addresses_and_the_report_link(
        engine: Engine, residents: Residents, reports: ReportService,
        subscriptions: Subscriptions) -> None:
    resident = someone()
    subscriptions.subscribe(resident, "whatsapp", "es", ["c31"], "button", "v1")
    residents.remember(resident, "+15550001111", ALERTS)
    ticket = residents.tickets.open(resident, "whatsapp", "report_activity", "es", urgent=True)
    residents.remember(resident, "+15550001111", TICKET)
    report = reports.file(area="c31", what=("agents",), when="now", ongoing=True, language="es",
                          channel="whatsapp", ticket_id=ticket.id, cross_streets="26th & Pulaski")
    assert purposes_kept(engine, resident) == {TICKET, ALERTS}
    residents.erase_now(resident)
    assert subscriptions.get(resident) is None
    assert purposes_kept(engine, resident) == set()
    kept = reports.get(report.id)
    assert kept.ticket_id is None and kept.cross_streets is None and kept.area == "c31"


def test_release_keeps_the_alerts_address_while_subscribed(
        engine: Engine, residents: Residents, subscriptions: Subscriptions) -> None:
    resident = someone()
    subscriptions.subscribe(resident, "telegram", "en", ["c24"], "command", "v1")
    residents.remember(resident, "12345", ALERTS)
    residents.release(resident, ALERTS)  # subscribed again meanwhile: still needed
    assert purposes_kept(engine, resident) == {ALERTS}
    subscriptions.stop(resident)
    residents.release(resident, ALERTS)
    assert purposes_kept(engine, resident) == set()


def test_purge_removes_old_reports_and_keeps_subscribers_reachable(
        engine: Engine, residents: Residents, reports: ReportService,
        subscriptions: Subscriptions, alerts: AlertService) -> None:
    subscriber, stopped = someone(), someone()
    subscriptions.subscribe(subscriber, "telegram", "en", ["c24"], "button", "v1")
    residents.remember(subscriber, "111", ALERTS)
    residents.remember(stopped, "222", ALERTS)  # stopped, but the release never came
    old = reports.file(area="c24", what=("vehicles",), when="today", ongoing=False,
                       language="en", channel="telegram")
    fresh = reports.file(area="c24", what=("vehicles",), when="today", ongoing=False,
                         language="en", channel="telegram")
    reports.assign(fresh.id, "dora", "vic")
    reports.record(fresh.id, "vic", CONFIRMED)
    expired = alerts.draft("ana", kind=ALERT, areas=("c24",), template="alerts.template_vehicles",
                           params={"time": "14:30"}, report_id=fresh.id,
                           expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    alerts.withdraw(expired.id, "ana")
    with engine.begin() as connection:
        connection.execute(sa.update(addresses).where(addresses.c.resident == subscriber).values(
            updated_at=LONG_AGO))  # subscribed years ago, still subscribed
        connection.execute(sa.update(alerts_table).where(alerts_table.c.id == expired.id).values(
            expires_at=LONG_AGO, updated_at=LONG_AGO))
        connection.execute(sa.update(reports_table).where(reports_table.c.id == old.id).values(
            created_at=LONG_AGO))
    residents.purge_expired(dt.timedelta(days=30), dt.timedelta(hours=72))
    with pytest.raises(ReportError):
        reports.get(old.id)
    assert reports.get(fresh.id).id == fresh.id
    with pytest.raises(AlertError):  # expired years ago: gone with the retention purge
        alerts.get(expired.id)
    assert purposes_kept(engine, subscriber) == {ALERTS}
    assert residents.address(subscriber) == "111"
    assert purposes_kept(engine, stopped) == set()
    subscriptions.stop(subscriber)
    with engine.begin() as connection:  # once they stop, the old address goes with the purge
        connection.execute(sa.update(addresses).where(addresses.c.resident == subscriber).values(
            updated_at=LONG_AGO))
    residents.purge_expired(dt.timedelta(days=30), dt.timedelta(hours=72))
    assert purposes_kept(engine, subscriber) == set()
