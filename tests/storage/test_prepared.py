"""Prepared statements give what SQLAlchemy's Connection.execute gives, on both databases."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.counters import _UPSERT
from bot.app.queue_tables import any_of, listed
from bot.handoff.tickets import _BY_ID, _OPEN_FOR, _SEEN
from bot.storage.addresses import _FORGET, _FORGET_ALL
from bot.storage.addresses import _INSERT as _ADDRESS_INSERT
from bot.storage.addresses import _UPDATE as _ADDRESS_UPDATE
from bot.storage.db import make_engine
from bot.storage.prepared import Prepared
from bot.storage.schema import addresses, counts, tickets
from bot.storage.tracker_store import _INSERT, _SELECT, _UPDATE

WHEN = dt.datetime(2026, 1, 3, 15, 30, 12, 345678, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    with engine.begin() as connection:  # PostgreSQL's database is shared by the suite
        for table in ("kyr_conversations", "kyr_tickets", "kyr_addresses"):
            connection.execute(sa.text(f"DELETE FROM {table} WHERE resident LIKE 'r-%'"))
        connection.execute(sa.text("DELETE FROM kyr_counts WHERE kind LIKE 'kp%'"))
    engine.dispose()


def _open_ticket(engine: Engine, resident: str) -> int:
    with engine.begin() as connection:
        return int(connection.execute(sa.insert(tickets).values(
            resident=resident, channel="telegram", topic="ice_at_door", language="es",
            priority="urgent", status="open", opened_at=WHEN, after_hours=True,
            path='["menu"]')).inserted_primary_key[0])


def test_a_select_gives_the_same_row_with_its_types(engine: Engine) -> None:
    resident = f"r-{uuid.uuid4().hex}"
    ticket_id = _open_ticket(engine, resident)
    with engine.connect() as connection:
        theirs = connection.execute(_OPEN_FOR.statement, {"resident": resident}).mappings().first()
        ours = _OPEN_FOR.execute(connection, {"resident": resident}).first()
        by_id = _BY_ID.execute(connection, {"id": ticket_id}).first()
        missing = _OPEN_FOR.execute(connection, {"resident": "nobody"})
    assert theirs is not None and ours == dict(theirs) == by_id
    assert isinstance(ours["opened_at"], dt.datetime)  # SQLite's text, read as a datetime
    assert ours["opened_at"].replace(tzinfo=dt.timezone.utc) == WHEN
    assert ours["after_hours"] is True  # SQLite's 1, read as a bool
    assert missing.first() is None and missing.scalar() is None and missing.rows == []


def test_writes_count_rows_and_belong_to_the_callers_transaction(engine: Engine) -> None:
    resident = f"r-{uuid.uuid4().hex}"
    ticket_id = _open_ticket(engine, resident)
    row = {"resident": resident, "events": "[1]", "updated_at": WHEN}
    with engine.begin() as connection:
        assert _UPDATE.execute(connection, row).rowcount == 0
        assert _INSERT.execute(connection, row).rowcount == 1
        assert _SEEN.execute(connection, {"ticket_id": ticket_id, "at": WHEN}).rowcount == 1
    with engine.connect() as connection:
        assert _SELECT.execute(connection, {"resident": resident}).scalar() == "[1]"
        stored = connection.execute(sa.select(tickets.c.last_inbound_at).where(
            tickets.c.id == ticket_id)).scalar()
    assert stored.replace(tzinfo=dt.timezone.utc) == WHEN  # the bind processor wrote it
    with pytest.raises(RuntimeError), engine.begin() as connection:
        _UPDATE.execute(connection, {**row, "events": "[2]"})
        raise RuntimeError("the turn failed")
    with engine.connect() as connection:  # rolled back with the transaction
        assert _SELECT.execute(connection, {"resident": resident}).scalar() == "[1]"


def test_an_address_is_written_with_its_time_and_forgotten(engine: Engine) -> None:
    resident = f"r-{uuid.uuid4().hex}"
    row = {"who": resident, "for": "ticket", "new_sealed": "sealed-1", "new_at": WHEN}
    with engine.begin() as connection:
        assert _ADDRESS_UPDATE.execute(connection, row).rowcount == 0
        assert _ADDRESS_INSERT.execute(connection, row).rowcount == 1
        assert _ADDRESS_UPDATE.execute(connection, {**row, "new_sealed": "sealed-2"}).rowcount == 1
        _ADDRESS_INSERT.execute(connection, {**row, "for": "alerts"})
    with engine.connect() as connection:
        got = connection.execute(sa.select(addresses.c.purpose, addresses.c.sealed,
                                           addresses.c.updated_at).where(
            addresses.c.resident == resident).order_by(addresses.c.purpose)).all()
    assert [(p, s) for p, s, _ in got] == [("alerts", "sealed-1"), ("ticket", "sealed-2")]
    assert got[0][2].replace(tzinfo=dt.timezone.utc) == WHEN  # the bind processor wrote it
    with engine.begin() as connection:
        assert _FORGET.execute(connection, {"who": resident, "for": "ticket"}).rowcount == 1
        assert _FORGET_ALL.execute(connection, {"who": resident}).rowcount == 1


def test_executemany_adds_up(engine: Engine) -> None:
    kind = f"kp{uuid.uuid4().hex[:8]}"
    rows = [{"day": WHEN.date(), "kind": kind, "area": "", "dimension": "", "value": "", "n": 1},
            {"day": WHEN.date(), "kind": kind, "area": "", "dimension": "language",
             "value": "es", "n": 2}]
    with engine.begin() as connection:
        _UPSERT.executemany(connection, rows)
        _UPSERT.executemany(connection, rows[:1])
    with engine.connect() as connection:
        got = dict(connection.execute(sa.select(counts.c.dimension, counts.c.n).where(
            counts.c.kind == kind)).all())
    assert got == {"": 2, "language": 2}


def test_driver_errors_come_out_as_sqlalchemys(engine: Engine) -> None:
    resident = f"r-{uuid.uuid4().hex}"
    row = {"resident": resident, "events": "[]", "updated_at": WHEN}
    with engine.begin() as connection:
        _INSERT.execute(connection, row)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        _INSERT.execute(connection, row)  # the primary key again
    with engine.connect() as connection:  # the pool's connection still works
        assert _SELECT.execute(connection, {"resident": resident}).scalar() == "[]"


def test_a_statement_rendered_per_call_is_refused(engine: Engine) -> None:
    expanding = Prepared(sa.select(tickets.c.id).where(tickets.c.id.in_(sa.bindparam("ids",
                                                                                   expanding=True))))
    with engine.connect() as connection, pytest.raises(ValueError, match="not a fixed statement"):
        expanding.execute(connection, {"ids": [1, 2]})


def test_a_list_of_values_is_one_parameter_on_both_databases(engine: Engine) -> None:
    """`any_of` + `listed` (the queues' claims and marks) select what an expanding `IN`
    selects, for numbers and for text, one value or hundreds, as one prepared statement;
    `named` reads the rows by column name."""
    dialect = engine.dialect.name
    residents = [f"r-{uuid.uuid4().hex}" for _ in range(4)]
    ids = [_open_ticket(engine, resident) for resident in residents]
    by_id = Prepared(sa.text(f"SELECT id, resident FROM kyr_tickets WHERE {any_of(dialect, 'id', 'ids')}"))
    by_resident = Prepared(sa.text(
        f"SELECT id FROM kyr_tickets WHERE {any_of(dialect, 'resident', 'who')}"))
    with engine.connect() as connection:
        for chosen in ([ids[0]], ids[1:3], ids + [-1] * 600):
            theirs = connection.execute(sa.text("SELECT id, resident FROM kyr_tickets WHERE id IN :ids")
                                        .bindparams(sa.bindparam("ids", expanding=True)),
                                        {"ids": chosen}).all()
            ours = by_id.execute(connection, {"ids": listed(dialect, chosen)}).named()
            assert sorted((row.id, row.resident) for row in ours) == sorted(map(tuple, theirs))
            assert len(ours) == len(set(chosen) - {-1})
        found = by_resident.execute(connection, {"who": listed(dialect, residents[2:] + ["nobody"])})
    assert sorted(row[0] for row in found.rows) == ids[2:]
