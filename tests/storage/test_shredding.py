"""What the SQLite files keep after a deletion: nothing readable (secure_delete + checkpoint)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.storage.db import make_engine, shred_files, utc_now
from bot.storage.schema import deliveries

MARKER = "resident-words-7f3a9c"


def on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("kyr"))


def test_a_deleted_row_is_gone_from_the_database_file_and_its_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kyr.sqlite3'}")
    with engine.begin() as connection:
        for i in range(50):
            connection.execute(sa.insert(deliveries).values(
                channel="test", resident="r", status="failed", reason=f"{MARKER} {i}", at=utc_now()))
    shred_files(engine)  # into the main file first: the hard case
    assert MARKER.encode() in on_disk(tmp_path)
    with engine.begin() as connection:
        connection.execute(sa.delete(deliveries).where(deliveries.c.resident == "r"))
    shred_files(engine)
    assert MARKER.encode() not in on_disk(tmp_path)
    assert (tmp_path / "kyr.sqlite3-wal").stat().st_size == 0  # the checkpoint truncated it
    with engine.connect() as connection:  # on every connection, whatever the build's default
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()
