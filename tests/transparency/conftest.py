"""A database with a quarter of counts, as the effects would have written them."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.app import counters as c
from bot.app.counters import Counters
from bot.settings import Settings, load_settings
from bot.storage.db import make_engine

TOPICS = ("ice_at_door", "warrant_check", "legal_help", "talk_to_person", "remain_silent")
AREAS = ("south_lawndale", "lower_west_side", "loop", "hegewisch", "albany_park")


def seed(counters: Counters, start: dt.date, days: int, seed_value: int = 7) -> None:
    """Busy enough that some cells are shown, quiet enough that many are hidden."""
    rng = random.Random(seed_value)
    with counters.engine.begin() as connection:
        for d in range(days):
            when = dt.datetime.combine(start + dt.timedelta(days=d), dt.time(18),
                                       tzinfo=dt.timezone.utc)
            for _ in range(rng.randint(0, 14)):
                lang = rng.choice(("en", "es", "es", "pl"))
                counters.record(c.TOPICS, connection, when=when, topic=rng.choice(TOPICS),
                                language=lang)
                counters.record(c.CONVERSATIONS, connection, when=when, language=lang,
                                channel=rng.choice(("telegram", "whatsapp")))
            for _ in range(rng.randint(0, 3)):
                counters.record(c.TICKETS_CLAIMED, connection, when=when, priority="normal",
                                wait=rng.choice(("under_5m", "5_15m", "15_60m")))
                counters.record(c.REPORTS, connection, when=when, area=rng.choice(AREAS),
                                report="checkpoint", outcome=rng.choice(("verified", "unverified")))
                counters.record(c.ALERTS, connection, when=when, area=rng.choice(AREAS[:3]),
                                language="es")


@pytest.fixture
def report_settings(tmp_path: Path) -> Settings:
    return load_settings({"KYR_DATA_DIR": str(tmp_path), "KYR_SECRET_KEY": "report-test",
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'kyr.sqlite3'}"})


@pytest.fixture
def database(report_settings: Settings) -> Engine:
    return make_engine(report_settings.database_url)


@pytest.fixture
def seeded(database: Engine) -> Counters:
    counters = Counters(database)
    seed(counters, dt.date(2026, 7, 1), 92)
    return counters
