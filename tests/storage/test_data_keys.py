"""Crypto-shredding: after /delete and the retention purge, the raw transcript rows read
before the erasure cannot be opened any more (their resident's key is gone), on SQLite and
PostgreSQL: a copy left in the files (WAL, free pages, dead row versions, a backup) is noise."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from bot.handoff.tickets import TicketService
from bot.storage.addresses import sealer
from bot.storage.db import make_engine
from bot.storage.schema import data_keys, ticket_messages

SECRET = b"shred-secret"


@pytest.fixture
def service(database_url: str) -> Iterator[TicketService]:
    engine = make_engine(database_url)
    yield TicketService(engine, SECRET)
    engine.dispose()


def raw_lines(service: TicketService, ticket_id: int) -> list[str]:
    """The stored bytes, as someone with a copy of the database file would have them."""
    with service.engine.connect() as connection:
        return [r.sealed for r in connection.execute(sa.select(ticket_messages.c.sealed).where(
            ticket_messages.c.ticket_id == ticket_id)) if r.sealed is not None]


def every_key_an_attacker_with_the_master_secret_could_make(service: TicketService) -> list[Fernet]:
    """The master-derived transcript key, and every data key still in the table."""
    master = sealer(SECRET, b"kyr-data-keys-v1")
    keys = []
    with service.engine.connect() as connection:
        for sealed in connection.execute(sa.select(data_keys.c.sealed)).scalars():
            try:
                keys.append(Fernet(master.decrypt(sealed.encode())))
            except InvalidToken:  # another test's secret (a shared PostgreSQL database)
                continue
    return [sealer(SECRET, b"kyr-transcripts-v1"), *keys]


def readable(sealed: str, keys: list[Fernet]) -> bool:
    for key in keys:
        try:
            key.decrypt(sealed.encode())
            return True
        except InvalidToken:
            continue
    return False


def test_erasure_destroys_the_key_so_copied_rows_are_noise(service: TicketService) -> None:
    who, other = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "telegram", "legal_help", "es")
    service.add_message(ticket.id, "resident", "resident", "me llamo Rosa, vivo en la 26")
    service.add_message(ticket.id, "staff:ana", "reply", "Rosa, ¿está a salvo?")
    kept = service.open(other, "telegram", "legal_help", "en")
    service.add_message(kept.id, "resident", "resident", "someone else's words")
    copied = raw_lines(service, ticket.id)  # a copy of the file, taken before the erasure
    assert len(copied) == 2 and all(readable(s, every_key_an_attacker_with_the_master_secret_could_make(service))
                                    for s in copied)
    assert not readable(copied[0], [sealer(SECRET, b"kyr-transcripts-v1")])  # not the master's key
    service.erase_resident(who)
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert not any(readable(s, keys) for s in copied)  # even with KYR_SECRET_KEY: noise
    assert [m.text for m in service.messages(kept.id)] == ["someone else's words"]


def test_the_purge_destroys_the_key_of_a_resident_with_no_ticket_left(service: TicketService) -> None:
    gone, back = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    old = service.open(gone, "telegram", "legal_help", "en")
    service.add_message(old.id, "resident", "resident", "old words of a resident who left")
    service.close(old.id, "resident", "left")
    first = service.open(back, "telegram", "legal_help", "en")
    service.add_message(first.id, "resident", "resident", "first visit")
    service.close(first.id, "resident", "left")
    copied_old, copied_first = raw_lines(service, old.id), raw_lines(service, first.id)
    service.purge_transcripts(dt.timedelta(seconds=-1))  # both closed tickets are past it
    newer = service.open(back, "telegram", "legal_help", "en")  # came back after the purge
    service.add_message(newer.id, "resident", "resident", "second visit")
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert not readable(copied_old[0], keys) and not readable(copied_first[0], keys)
    assert [m.text for m in service.messages(newer.id)] == ["second visit"]  # a new key
