"""A database thread keeps its connection between transactions, and gives it up when it
must; other threads do not keep one."""

from __future__ import annotations

import functools
import threading
from typing import Callable, Iterator, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage import db, offload
from bot.storage.db import make_engine, transaction

T = TypeVar("T")


def on_database_thread(test: Callable[..., T]) -> Callable[..., T]:
    """Run the test's body on one of the threads of its engine's kind of database."""
    @functools.wraps(test)
    def run(engine: Engine, *args: object, **kwargs: object) -> T:
        def body() -> T:
            try:
                return test(engine, *args, **kwargs)
            finally:
                if db._kept.connection is not None:
                    db._kept.connection.close()
                    db._kept.connection = None
        return offload.executor(engine.dialect.name).submit(body).result(60)
    return run


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def raw(connection: Connection) -> object:
    return connection.connection.dbapi_connection


@on_database_thread
def test_transactions_on_one_thread_share_a_connection_and_commit(engine: Engine) -> None:
    with transaction(engine) as first:
        first.execute(sa.text("CREATE TEMPORARY TABLE kt_scratch (n INTEGER)"))
        first.execute(sa.text("INSERT INTO kt_scratch VALUES (1)"))
    with transaction(engine) as second:  # a temporary table is seen by its connection only
        assert second is first  # the same Connection, not a pooled one taken again
        assert second.execute(sa.text("SELECT n FROM kt_scratch")).scalars().all() == [1]
    with engine.connect() as other:
        with pytest.raises(sa.exc.DBAPIError):
            other.execute(sa.text("SELECT n FROM kt_scratch"))


@on_database_thread
def test_a_failed_transaction_is_rolled_back_and_the_next_one_works(engine: Engine) -> None:
    with transaction(engine) as connection:
        connection.execute(sa.text("CREATE TEMPORARY TABLE kt_scratch (n INTEGER)"))
    with pytest.raises(RuntimeError):
        with transaction(engine) as connection:
            connection.execute(sa.text("INSERT INTO kt_scratch VALUES (2)"))
            raise RuntimeError("the turn failed")
    with pytest.raises(sa.exc.DBAPIError):
        with transaction(engine) as connection:
            connection.execute(sa.text("SELECT * FROM no_such_table"))
    with transaction(engine) as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM kt_scratch")).scalar() == 0


@on_database_thread
def test_a_transaction_inside_another_gets_a_connection_of_its_own(engine: Engine) -> None:
    with transaction(engine) as outer:
        with transaction(engine) as inner:
            assert raw(inner) is not raw(outer)
            assert inner.execute(sa.text("SELECT 1")).scalar() == 1
        assert outer.in_transaction()
    with transaction(engine) as again:
        assert again is outer and raw(again) is raw(outer)


def test_another_kind_of_databases_thread_keeps_none(engine: Engine) -> None:
    other = "postgresql" if engine.dialect.name == "sqlite" else "sqlite"

    def twice() -> list[Connection]:
        made = []
        for _ in range(2):
            with transaction(engine) as connection:
                made.append(connection)
        return made

    first, second = offload.executor(other).submit(twice).result(60)
    assert first is not second and first.closed and second.closed


def test_other_threads_keep_no_connection(engine: Engine) -> None:
    seen: list[object] = []

    def work() -> None:
        for _ in range(2):
            with transaction(engine) as connection:
                seen.append(connection)
        seen.append(db._kept.connection)

    thread = threading.Thread(target=work)  # the loop's, or a web framework's pool's
    thread.start()
    thread.join(10)
    assert len(seen) == 3 and seen[0] is not seen[1] and seen[0].closed and seen[1].closed
    assert seen[2] is None


@on_database_thread
def test_an_idle_invalidated_or_other_engines_connection_is_given_back(
        engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with transaction(engine) as first:
        kept = raw(first)
    first.invalidate()  # a connection the database dropped
    with transaction(engine) as second:
        assert raw(second) is not kept and second.execute(sa.text("SELECT 1")).scalar() == 1
    monkeypatch.setattr(db, "KEEP_IDLE_SECONDS", -1.0)  # every connection now idle too long
    with transaction(engine) as third:
        assert third is not second and second.closed
    monkeypatch.undo()
    other = make_engine(database_url)
    try:
        with transaction(other) as fourth:
            assert fourth.engine is other and third.closed
    finally:
        db._kept.connection.close()  # type: ignore[union-attr]
        db._kept.connection = None
        other.dispose()


@on_database_thread
def test_a_dropped_postgresql_connection_costs_at_most_one_transaction(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to drop a connection")

    def drop_kept() -> None:
        with transaction(engine) as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    drop_kept()  # dropped while busy: the next transaction fails, the one after works
    with pytest.raises(sa.exc.DBAPIError):
        with transaction(engine) as connection:
            connection.execute(sa.text("SELECT 1"))
    with transaction(engine) as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    drop_kept()  # dropped while quiet: the pool's ping finds it, nothing fails
    monkeypatch.setattr(db, "KEEP_IDLE_SECONDS", -1.0)
    with transaction(engine) as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1


@on_database_thread
def test_another_engines_transaction_inside_one_leaves_the_kept_connection_alone(
        engine: Engine, database_url: str) -> None:
    other = make_engine(database_url)
    try:
        with transaction(engine) as outer:
            with transaction(other) as inner:
                assert inner.engine is other
        assert db._kept.connection is outer and not outer.closed
        with transaction(engine) as again:
            assert again is outer
    finally:
        other.dispose()
