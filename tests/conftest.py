"""Shared fixtures: one trained model and one set of loaded services per test run."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from bot.settings import PROJECT_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from bot.app.services import Services

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

# The platforms' recorded payloads live in ../shared/fixtures (CI clones with shared/ beside).
SHARED = Path(os.environ.get("KYR_SHARED_DIR") or PROJECT_ROOT.parent / "shared")


def platform_fixtures(platform: str) -> Path:
    folder = SHARED / "fixtures" / platform
    if not folder.is_dir():
        pytest.skip(f"platform fixtures not found at {folder} (set KYR_SHARED_DIR)")
    return folder


POSTGRES_URL = os.environ.get("KYR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_users = itertools.count()


def postgres_reason() -> str | None:
    """None when PostgreSQL answers, else why the PostgreSQL tests skip."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL, future=True, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"
    return None


@contextlib.contextmanager
def postgres_services(folder: Path) -> Iterator[Services]:
    """A second set of services on PostgreSQL for one test (skips, saying why, when it does
    not answer); the session's services are installed again afterwards, as one process
    runs one bot."""
    from bot.app.services import build
    from bot.engine import runtime

    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    shared = runtime.current()
    try:
        pg = build(load_settings({"KYR_DATA_DIR": str(folder), "DATABASE_URL": POSTGRES_URL,
                                  "KYR_SECRET_KEY": "test-secret"}))
        try:
            yield pg
        finally:
            pg.db.dispose()
    finally:
        runtime.install(shared)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite file and on PostgreSQL (skipped with the reason)."""
    if request.param == "postgres":
        reason = postgres_reason()
        if reason:
            pytest.skip(reason)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'kyr.sqlite3'}"


HOTLINE_OPEN = datetime.datetime(2026, 11, 18, 18, 0, tzinfo=datetime.timezone.utc)  # 12:00 in Chicago


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kyr-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    """The real project files and model; a throwaway SQLite file and secret."""
    return load_settings({"KYR_DATA_DIR": str(data_dir), "KYR_SECRET_KEY": "test-secret"})


@pytest.fixture(scope="session")
def trained(settings: Settings) -> Path:
    from bot.engine.training import train

    return train(settings)  # skipped when `make test` already trained these inputs


@pytest.fixture(scope="session")
def services(settings: Settings, trained: Path):  # type: ignore[no-untyped-def]
    from bot.app.services import build

    loaded = build(settings)
    # The hotline's hours decide what a resident asking for a person is told: tests run at
    # a fixed hour when it is open (Wednesday noon in Chicago) unless they set another.
    loaded.conversation.clock = lambda: HOTLINE_OPEN
    return loaded


@pytest.fixture
def user() -> str:
    return f"resident-{next(_users)}"


@pytest.fixture
def bot(services, user):  # type: ignore[no-untyped-def]
    from bot.testing import TestBot

    return TestBot(services.conversation, user)


@pytest.fixture
def project_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of flows/, content/ and locales/ to break on purpose."""
    for name in ("flows", "content", "locales"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    shutil.copy(PROJECT_ROOT / "babel.cfg", tmp_path / "babel.cfg")
    yield tmp_path
