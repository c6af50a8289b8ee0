"""The network's services on a SQLite file and on PostgreSQL (the `database_url` fixture of
tests/conftest.py: PostgreSQL skips, saying why, when it does not answer)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterator, Optional

import pytest
from sqlalchemy.engine import Connection, Engine

from bot.network.alerts import AlertService
from bot.network.reports import ReportService
from bot.network.subscriptions import Subscriptions
from bot.storage.db import make_engine, utc_now

SECRET = b"test-secret"


@dataclass
class CountedReports:
    """Stands in for bot.app.counters.Counters: what was counted, and in a transaction."""

    calls: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def report(self, area: str, report: str, outcome: str,
               connection: Optional[Connection] = None) -> None:
        self.calls.append((area, report, outcome, connection is not None))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def counted() -> CountedReports:
    return CountedReports()


@pytest.fixture
def reports(engine: Engine, counted: CountedReports) -> ReportService:
    return ReportService(engine, SECRET, counters=counted)


@pytest.fixture
def alerts(engine: Engine) -> AlertService:
    return AlertService(engine, SECRET)


@pytest.fixture
def subscriptions(engine: Engine) -> Subscriptions:
    return Subscriptions(engine)


def in_hours(hours: float) -> dt.datetime:
    return utc_now() + dt.timedelta(hours=hours)
