"""Bring a database to the newest schema revision (Alembic), and say whether it is there.

A database made before migrations existed (tables from `create_all`, no alembic_version)
is stamped at the baseline first and then upgraded in place: nothing is created twice and
nothing is lost. On PostgreSQL an advisory lock lets only one worker migrate at a time.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from bot.storage.schema import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
VERSION_TABLE = "alembic_version"
LOCK_ID = 0x6B7972  # "kyr": the advisory lock key of a migration on PostgreSQL


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return revision


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def made_before_migrations(connection: Connection) -> bool:
    """Tables of ours but no version: a database from the days of `create_all`."""
    names = set(sa.inspect(connection).get_table_names())
    return VERSION_TABLE not in names and "kyr_conversations" in names


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate to `revision` (the newest by default); returns the revision now current."""
    with engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        cfg = config(connection)
        if made_before_migrations(connection):
            command.stamp(cfg, BASELINE)
        if current(connection) != head() or revision != "head":
            command.upgrade(cfg, revision)
        now = current(connection)
    return now or ""


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate looks at our tables only (not SQLite's own sqlite_sequence)."""
    return type_ != "table" or (name or "").startswith("kyr_")


def differences(engine: Engine) -> list[object]:
    """What the schema module and the migrated database disagree on (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_name": ours})
        return list(compare_metadata(context, metadata))
