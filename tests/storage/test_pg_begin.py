"""PostgreSQL: each transaction's BEGIN goes with its first statement (bot.storage.pg_begin),
and transactions still begin, commit and roll back exactly as SQLAlchemy says."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy.engine import Connection, Engine

from bot.storage.db import make_engine
from bot.storage.prepared import Prepared


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's driver sends no BEGIN of its own")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS kyr_test_begin (tag TEXT, n INT)"))
    yield engine
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE kyr_test_begin"))
    engine.dispose()


def _idle(connection: Connection) -> bool:
    return bool(connection.connection.dbapi_connection.info.transaction_status
                == TRANSACTION_STATUS_IDLE)


def _count(engine: Engine, tag: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM kyr_test_begin WHERE tag = :t"),
                                      {"t": tag}).scalar())


def test_the_begin_travels_with_the_first_statement(engine: Engine) -> None:
    """The server saw one query holding both (PostgreSQL's current_query(): the text the
    client sent), and a later statement of the same transaction alone."""
    assert engine.dialect.driver == "psycopg2" and engine.url.drivername.endswith("kyr_psycopg2")
    assert engine.dialect.supports_statement_cache  # else SQLAlchemy compiles every statement
    now = sa.text("SELECT current_query()")
    with engine.begin() as connection:
        first = connection.execute(now).scalar()
        second = connection.execute(now).scalar()
        prepared = Prepared(now).execute(connection).scalar()
    assert first.startswith("BEGIN;SELECT current_query()")
    assert second.startswith("SELECT current_query()") and prepared.startswith("SELECT current_query()")
    with engine.connect() as connection:  # a prepared statement opens a transaction too
        assert Prepared(now).execute(connection).scalar().startswith("BEGIN;SELECT current_query()")
        assert not _idle(connection)
        raw = connection.connection.dbapi_connection
    assert raw.info.transaction_status == TRANSACTION_STATUS_IDLE  # the pool's reset ended it


def test_one_transaction_is_one_server_transaction_and_ends_when_told(engine: Engine) -> None:
    txid = sa.text("SELECT txid_current()")
    with engine.begin() as connection:
        a, b = connection.execute(txid).scalar(), connection.execute(txid).scalar()
    with engine.begin() as connection:
        c = connection.execute(txid).scalar()
        raw = connection.connection.dbapi_connection
        assert raw.info.transaction_status != TRANSACTION_STATUS_IDLE
    assert a == b != c
    assert raw.info.transaction_status == TRANSACTION_STATUS_IDLE  # committed, nothing left open


def test_commit_keeps_rollback_undoes_and_an_error_leaves_the_connection_usable(engine: Engine) -> None:
    tag = uuid.uuid4().hex
    insert = sa.text("INSERT INTO kyr_test_begin (tag, n) VALUES (:t, :n)")
    with engine.begin() as connection:
        connection.execute(insert, {"t": tag, "n": 1})
        Prepared(insert).execute(connection, {"t": tag, "n": 2})
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(insert, {"t": tag, "n": 3})
        raise RuntimeError("the turn failed")
    assert _count(engine, tag) == 2
    with engine.connect() as connection:
        with pytest.raises(sa.exc.ProgrammingError):
            connection.execute(sa.text("SELECT * FROM no_such_table"))  # its first statement
        connection.rollback()
        assert _idle(connection)
        connection.execute(insert, {"t": tag, "n": 4})
        connection.commit()
    assert _count(engine, tag) == 3


def test_many_rows_and_savepoints_commit_together(engine: Engine) -> None:
    tag = uuid.uuid4().hex
    rows = [{"tag": tag, "n": n} for n in range(5)]
    table = sa.table("kyr_test_begin", sa.column("tag"), sa.column("n"))
    with engine.begin() as connection:
        connection.execute(sa.insert(table), rows)  # psycopg2's execute_values: BEGIN apart
        Prepared(sa.text("INSERT INTO kyr_test_begin (tag, n) VALUES (:tag, :n)")).executemany(
            connection, rows)
        nested = connection.begin_nested()
        connection.execute(sa.insert(table), rows[:1])
        nested.rollback()
    assert _count(engine, tag) == 10
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(sa.insert(table), rows)
        raise RuntimeError("rolled back whole")
    assert _count(engine, tag) == 10


@pytest.mark.parametrize("level", ["AUTOCOMMIT", "SERIALIZABLE"])
def test_another_isolation_level_is_refused(engine: Engine, level: str) -> None:
    with engine.connect() as connection:
        with pytest.raises(sa.exc.ArgumentError):
            connection.execution_options(isolation_level=level).execute(sa.text("SELECT 1"))
    with engine.begin() as connection:  # the pool's connections are as they were
        assert connection.execute(sa.text("SHOW transaction_isolation")).scalar() == "read committed"
