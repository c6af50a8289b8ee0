"""One schema under Alembic: fresh databases and databases made by yesterday's `create_all`
both reach the newest revision, and the schema module agrees with the migrations."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage import migrate
from bot.storage.addresses import AddressBook
from tests.conftest import POSTGRES_URL, postgres_reason

DATA = Path(__file__).with_name("data")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind (PostgreSQL: a new database, dropped after)."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}", future=True)
        yield engine
        engine.dispose()
        return
    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    name = f"kyr_migrations_{secrets.token_hex(4)}"
    server = sa.create_engine(sa.engine.make_url(POSTGRES_URL).set(database="postgres"),
                              future=True, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.engine.make_url(POSTGRES_URL).set(database=name), future=True)
    try:
        yield engine
    finally:
        engine.dispose()
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}"'))
        server.dispose()


def load_yesterdays_schema(engine: Engine) -> None:
    """The DDL `create_all` emitted before migrations (kept in tests/storage/data)."""
    script = (DATA / f"create_all_{engine.dialect.name}.sql").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    with engine.begin() as connection:
        for statement in filter(str.strip, code.split(";")):
            connection.exec_driver_sql(statement)


def test_a_fresh_database_reaches_head_and_matches_the_schema_module(empty: Engine) -> None:
    assert migrate.upgrade(empty) == migrate.head()
    assert migrate.differences(empty) == []
    assert migrate.upgrade(empty) == migrate.head()  # again: nothing to do


def test_a_database_made_by_create_all_is_upgraded_in_place(empty: Engine) -> None:
    load_yesterdays_schema(empty)
    book = AddressBook(empty, b"secret")
    with empty.begin() as connection:  # a resident waiting on a ticket, as stored yesterday
        connection.execute(sa.text(
            "INSERT INTO kyr_addresses (resident, sealed, updated_at) VALUES (:r, :s, :t)"),
            {"r": "r1", "s": book.fernet.encrypt(b"+15551234567").decode(),
             "t": "2026-11-30 12:00:00+00:00"})
    with empty.connect() as connection:
        assert migrate.made_before_migrations(connection)
    assert migrate.upgrade(empty) == migrate.head()
    assert migrate.differences(empty) == []
    assert book.lookup("r1") == "+15551234567"  # kept, now for the purpose "ticket"
    with empty.connect() as connection:
        assert connection.execute(sa.text("SELECT purpose FROM kyr_addresses")).scalar() == "ticket"


def test_every_migration_goes_down_and_up_again(empty: Engine) -> None:
    migrate.upgrade(empty)
    with empty.begin() as connection:
        from alembic import command

        command.downgrade(migrate.config(connection), "base")
    with empty.connect() as connection:
        assert not [t for t in sa.inspect(connection).get_table_names() if t.startswith("kyr_")]
    assert migrate.upgrade(empty) == migrate.head()
    assert migrate.differences(empty) == []


def test_the_comparison_sees_a_model_the_migrations_lack(empty: Engine) -> None:
    migrate.upgrade(empty)
    extra = sa.Table("kyr_not_migrated", migrate.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        assert [d[0] for d in migrate.differences(empty)] == ["add_table"]  # type: ignore[index]
    finally:
        migrate.metadata.remove(extra)


def test_photos_stored_before_0010_are_marked_legacy_and_still_read(empty: Engine) -> None:
    from bot.handoff.tickets import TicketService

    migrate.upgrade(empty, "0009_data_keys")
    service = TicketService(empty, b"secret")
    now = "2026-12-01 12:00:00+00:00"
    with empty.begin() as connection:  # a photo as the code of 0009 stored it
        connection.execute(sa.text(
            "INSERT INTO kyr_tickets (id, resident, channel, topic, language, priority, status,"
            " opened_at, after_hours, path, last_inbound_at) VALUES"
            " (1, 'r1', 'telegram', 'eviction', 'en', 'normal', 'open', :t, false, '[]', :t)"), {"t": now})
        connection.execute(sa.text(
            "INSERT INTO kyr_ticket_messages (id, ticket_id, author, kind, at, sealed)"
            " VALUES (1, 1, 'resident', 'media', :t, :s)"),
            {"t": now, "s": service.fernet.encrypt(b"").decode()})
        connection.execute(sa.text(
            "INSERT INTO kyr_ticket_media (ticket_id, message_id, kind, mime, sealed, created_at)"
            " VALUES (1, 1, 'photo', 'image/jpeg', :s, :t)"),
            {"t": now, "s": service.media_fernet.encrypt(b"\xff\xd8\xff old")})
    assert migrate.upgrade(empty) == migrate.head()
    with empty.connect() as connection:
        assert connection.execute(sa.text("SELECT sealed_with FROM kyr_ticket_media")).scalar() == "legacy"
        media_id = connection.execute(sa.text("SELECT id FROM kyr_ticket_media")).scalar()
    found = service.attachment(media_id)
    assert found is not None and found[1] == b"\xff\xd8\xff old"
