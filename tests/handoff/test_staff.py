"""Staff accounts, sessions, login throttling and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from argon2 import PasswordHasher

import sqlalchemy as sa

from bot.handoff.staff import (MAX_FAILURES, MAX_FAILURES_PER_ADDRESS, StaffDirectory, StaffError,
                               TooManyAttempts, _digest, login_failures)
from bot.storage.db import make_engine

PASSWORD = "a long enough password"


@pytest.fixture
def directory(database_url: str) -> Iterator[StaffDirectory]:
    engine = make_engine(database_url)
    yield StaffDirectory(engine, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    engine.dispose()


def name() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}"


def address() -> str:
    """A client address of its own: PostgreSQL keeps earlier runs' failures (for 15 minutes)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().hex[:6]}"


def test_accounts_sessions_and_logout(directory: StaffDirectory) -> None:
    who = name()
    directory.add(who, "supervisor", ("es", "pl"), PASSWORD)
    staff = directory.authenticate(who, PASSWORD, address())
    assert (staff.role, staff.languages, staff.supervises) == ("supervisor", ("es", "pl"), True)
    token, session = directory.start_session(staff)
    assert directory.session(token) == session and len(session.csrf) > 20
    assert directory.session("forged") is None and directory.session(None) is None
    directory.end_session(token)
    assert directory.session(token) is None


def test_changing_an_account_ends_its_sessions(directory: StaffDirectory) -> None:
    who = name()
    staff = directory.add(who, "staff", (), PASSWORD)
    token, _ = directory.start_session(staff)
    directory.add(who, "staff", (), PASSWORD + "!")
    assert directory.session(token) is None
    with pytest.raises(StaffError):
        directory.authenticate(who, PASSWORD, address())


def test_bad_accounts_are_refused(directory: StaffDirectory) -> None:
    for bad_name, role, password in [("two words", "staff", PASSWORD), (name(), "boss", PASSWORD),
                                     (name(), "staff", "short"), ("resident", "staff", PASSWORD),
                                     ("Bot", "admin", PASSWORD), ("x" * 65, "staff", PASSWORD)]:
        with pytest.raises(StaffError):
            directory.add(bad_name, role, (), password)


def test_failures_lock_the_name_at_that_address_and_the_address(directory: StaffDirectory) -> None:
    who, other = name(), name()
    directory.add(who, "staff", (), PASSWORD)
    directory.add(other, "staff", (), PASSWORD)
    office = address()
    for _ in range(MAX_FAILURES):
        with pytest.raises(StaffError):
            directory.authenticate(who, "wrong", office)
    for _ in range(3):  # retrying while locked does not make the lock last longer
        with pytest.raises(TooManyAttempts):  # the right password, too late
            directory.authenticate(who, PASSWORD, office)
    # Someone who knows the name cannot lock its owner out from elsewhere: the name's lock
    # holds at the address that guessed, and the owner logs in from home (any case).
    assert directory.authenticate(who.upper(), PASSWORD, address()).name == who
    with directory.engine.connect() as connection:
        counted = connection.execute(sa.select(sa.func.count()).select_from(login_failures).where(
            login_failures.c.key == _digest(f"name:{who.lower()}|client:{office}"))).scalar()
    assert counted == MAX_FAILURES
    # A colleague in the same office still gets in: one person's typos lock their name only.
    assert directory.authenticate(other, PASSWORD, office).name == other
    guesser = address()  # but one address guessing many names is stopped
    for _ in range(MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(StaffError):
            directory.authenticate(name(), "guess", guesser)
    with pytest.raises(TooManyAttempts):
        directory.authenticate(other, PASSWORD, guesser)
    with pytest.raises(StaffError):  # an unknown name fails like a wrong password
        directory.authenticate(name(), PASSWORD, address())


def test_audit_log_records_who_opened_which_transcript(directory: StaffDirectory) -> None:
    who = name()
    ticket = uuid.uuid4().int % 1_000_000_000  # PostgreSQL keeps earlier runs' entries
    directory.audit(who, ticket)
    directory.audit(who, ticket + 1)
    entries = directory.audit_entries(ticket_id=ticket)
    assert [(e.staff, e.ticket_id, e.action) for e in entries] == [(who, ticket, "opened transcript")]
    assert directory.has_opened(who, ticket) and not directory.has_opened(name(), ticket)
