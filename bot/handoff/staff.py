"""Hotline staff: accounts (argon2 hashes), console sessions, login throttling, audit log.

Sessions live in the database, not in a signed cookie: logging out, or an admin removing
an account, ends them at once, and any worker can check them. The cookie holds a random
token; only its SHA-256 is stored. Login failures are counted per account and per client
address in the database, so a restart or a second worker does not reset the limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from bot.storage.db import as_utc, utc_now
from bot.storage.schema import audit_log, login_failures, staff_accounts, staff_sessions

ROLES = ("staff", "supervisor", "admin")
MAX_NAME = 64  # "staff:<name>" fits the 80-character actor columns of the ticket log
RESERVED_NAMES = {"resident", "bot", "forgotten"}
SESSION_HOURS = 12  # one night shift
MAX_FAILURES = 5  # per account, within FAILURE_WINDOW
# Per client address: higher, because a hotline office shares one address, and one
# volunteer's typos must not lock the whole shift out during a raid.
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = dt.timedelta(minutes=15)

def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class StaffError(Exception):
    """Something an admin or a staff member must be told (bad role, unknown account...)."""


class TooManyAttempts(StaffError):
    pass


@dataclass(frozen=True)
class Staff:
    name: str
    role: str
    languages: tuple[str, ...]

    @property
    def supervises(self) -> bool:
        return self.role in ("supervisor", "admin")


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf: str


@dataclass(frozen=True)
class AuditEntry:
    staff: str
    ticket_id: int
    action: str
    at: dt.datetime


class StaffDirectory:
    def __init__(self, engine: Engine, hasher: Optional[PasswordHasher] = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        # Verifying against a dummy hash when the account does not exist takes as long as
        # a real check, so timing does not tell which names exist.
        self._dummy = self.hasher.hash(secrets.token_hex(8))

    # ---- accounts ----

    def add(self, name: str, role: str, languages: tuple[str, ...], password: str) -> Staff:
        name = name.strip()
        if not name or len(name) > MAX_NAME or any(c.isspace() for c in name):
            raise StaffError(f"the name must be one word of at most {MAX_NAME} characters")
        if name.lower() in RESERVED_NAMES:
            raise StaffError(f"'{name}' is reserved: the ticket log uses it for the resident or the bot")
        if role not in ROLES:
            raise StaffError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 12:
            raise StaffError("the password must have at least 12 characters")
        row = {"role": role, "languages": ",".join(languages),
               "password_hash": self.hasher.hash(password)}
        with self.engine.begin() as connection:
            if connection.execute(sa.select(staff_accounts.c.name).where(
                    staff_accounts.c.name == name)).first() is not None:
                connection.execute(sa.update(staff_accounts).where(
                    staff_accounts.c.name == name).values(**row))
                connection.execute(sa.delete(staff_sessions).where(staff_sessions.c.staff == name))
            else:
                connection.execute(sa.insert(staff_accounts).values(name=name, created_at=utc_now(), **row))
        return Staff(name, role, languages)

    def get(self, name: str) -> Optional[Staff]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(staff_accounts).where(
                staff_accounts.c.name == name)).mappings().first()
        if row is None:
            return None
        return Staff(row["name"], row["role"], tuple(c for c in row["languages"].split(",") if c))

    def names(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(staff_accounts.c.name).order_by(
                staff_accounts.c.name)).scalars())

    # ---- login ----

    def _failures(self, connection: sa.engine.Connection, key: str) -> int:
        return int(connection.execute(sa.select(sa.func.count()).select_from(login_failures).where(
            login_failures.c.key == key, login_failures.c.at > utc_now() - FAILURE_WINDOW)).scalar() or 0)

    def authenticate(self, name: str, password: str, client: str) -> Staff:
        """The account, if the password is right; raises TooManyAttempts or StaffError."""
        keys = [_digest(f"name:{name.strip().lower()}"), _digest(f"client:{client}")]
        # The attempt is counted before the password is checked and uncounted if it was
        # right: parallel guesses cannot all slip under the limit while argon2 runs.
        with self.engine.begin() as connection:
            now = utc_now()
            connection.execute(sa.delete(login_failures).where(login_failures.c.at < now - FAILURE_WINDOW))
            ids = [connection.execute(sa.insert(login_failures).values(key=k, at=now)).inserted_primary_key[0]
                   for k in keys]
            locked = (self._failures(connection, keys[0]) > MAX_FAILURES
                      or self._failures(connection, keys[1]) > MAX_FAILURES_PER_ADDRESS)
            stored = connection.execute(sa.select(staff_accounts.c.password_hash).where(
                staff_accounts.c.name == name.strip())).scalar()
        if locked:
            # A refused attempt is not counted: the lock ends 15 minutes after the failures
            # that caused it, however often the person tries meanwhile.
            with self.engine.begin() as connection:
                connection.execute(sa.delete(login_failures).where(login_failures.c.id.in_(ids)))
            raise TooManyAttempts("too many failed logins: wait 15 minutes and try again")
        try:
            self.hasher.verify(stored or self._dummy, password)
            ok = stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise StaffError("wrong name or password")
        with self.engine.begin() as connection:
            connection.execute(sa.delete(login_failures).where(login_failures.c.id.in_(ids)))
        staff = self.get(name.strip())
        assert staff is not None
        return staff

    # ---- sessions ----

    def start_session(self, staff: Staff) -> tuple[str, Session]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(sa.delete(staff_sessions).where(staff_sessions.c.expires_at < utc_now()))
            connection.execute(sa.insert(staff_sessions).values(
                token_hash=_digest(token), staff=staff.name, csrf=csrf,
                expires_at=utc_now() + dt.timedelta(hours=SESSION_HOURS)))
        return token, Session(staff, csrf)

    def session(self, token: Optional[str]) -> Optional[Session]:
        if not token:
            return None
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(staff_sessions).where(
                staff_sessions.c.token_hash == _digest(token))).mappings().first()
        if row is None or as_utc(row["expires_at"]) < utc_now():
            return None
        staff = self.get(row["staff"])
        return Session(staff, row["csrf"]) if staff is not None else None

    def end_session(self, token: Optional[str]) -> None:
        if token:
            with self.engine.begin() as connection:
                connection.execute(sa.delete(staff_sessions).where(
                    staff_sessions.c.token_hash == _digest(token)))

    # ---- audit ----

    def audit(self, staff: str, ticket_id: int, action: str = "opened transcript") -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.insert(audit_log).values(staff=staff, ticket_id=ticket_id,
                                                           action=action, at=utc_now()))

    def has_opened(self, staff: str, ticket_id: int) -> bool:
        """Whether this person opened the ticket's page (audited) within one session's span."""
        since = utc_now() - dt.timedelta(hours=SESSION_HOURS)
        with self.engine.connect() as connection:
            return connection.execute(sa.select(audit_log.c.id).where(
                audit_log.c.staff == staff, audit_log.c.ticket_id == ticket_id,
                audit_log.c.at > since).limit(1)).first() is not None

    def audit_entries(self, limit: int = 200, ticket_id: Optional[int] = None) -> list[AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if ticket_id is not None:
            query = query.where(audit_log.c.ticket_id == ticket_id)
        with self.engine.connect() as connection:
            return [AuditEntry(r["staff"], r["ticket_id"], r["action"], as_utc(r["at"]))
                    for r in connection.execute(query).mappings()]
