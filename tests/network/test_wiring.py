"""The composition root builds the network's services once, on the bot's database, and
hands the same instances to the residents' owner (erasure, purge) and the counters."""

from __future__ import annotations

from bot.app.services import Services
from bot.network.alerts import AlertService
from bot.network.reports import ReportService
from bot.network.subscriptions import Subscriptions


def test_services_expose_the_network(services: Services) -> None:
    assert isinstance(services.reports, ReportService)
    assert isinstance(services.alerts, AlertService)
    assert isinstance(services.subscriptions, Subscriptions)
    assert services.residents.reports is services.reports
    assert services.residents.subscriptions is services.subscriptions
    assert services.reports.counters is services.counters  # decided reports are counted
    assert {services.reports.engine, services.alerts.engine, services.subscriptions.engine} == {
        services.db}
