"""Hotline staff: accounts (argon2 hashes), console sessions, login throttling, audit log.

Sessions live in the database, not in a signed cookie: logging out, or an admin removing
an account, ends them at once, and any worker can check them. The cookie holds a random
token; only its SHA-256 is stored. Login failures are counted per account and per client
address in the database, so a restart or a second worker does not reset the limit.

A wrong password locks a name only from the address it came from: anyone who knows a
volunteer's name cannot lock them out from elsewhere. Sessions end after inactivity
(KYR_STAFF_IDLE_MINUTES, two hours by default) and, however active, at SESSION_HOURS.
Names are matched without regard to case (phones capitalise the first letter).
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

from bot.core.actors import BOT, MAX_NAME, RESIDENT
from bot.handoff.tickets import FORGOTTEN
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.prepared import Prepared
from bot.storage.schema import (audit_log, login_failures, staff_accounts, staff_presence,
                                 staff_sessions)

# A dispatcher triages reports of enforcement activity, sends verifiers and approves alerts
# (bot.network); supervisors and admins may do the same.
ROLES = ("staff", "dispatcher", "supervisor", "admin")
DISPATCHERS = ("dispatcher", "supervisor", "admin")
RESERVED_NAMES = {RESIDENT, BOT, FORGOTTEN}  # the log's system actors; an erased resident
SESSION_HOURS = 12  # the absolute limit: one night shift
IDLE_MINUTES = 120  # the inactivity limit, unless KYR_STAFF_IDLE_MINUTES says otherwise
PRESENT_WITHIN = dt.timedelta(minutes=3)  # an open console page checks in every minute
MAX_FAILURES = 5  # per account and address, within FAILURE_WINDOW
# Per client address: higher, because a hotline office shares one address, and one
# volunteer's typos must not lock the whole shift out during a raid.
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = dt.timedelta(minutes=15)

OPENED = "opened transcript"
VIEWED_MEDIA = "viewed media"  # a photo or voice note of a transcript (detail: which)
ACTIONS = (OPENED, "claimed", "replied", "note", "transferred", "unclaimed", "closed",
           "handed over", "exported audit", VIEWED_MEDIA)


def _staff(row: sa.engine.RowMapping) -> "Staff":
    return Staff(row["name"], row["role"], tuple(c for c in row["languages"].split(",") if c),
                 row["console_language"] or "en")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


_NAMES = Prepared(sa.select(staff_accounts.c.name).order_by(staff_accounts.c.name))  # every ticket


class StaffError(Exception):
    """Something an admin or a staff member must be told (bad role, unknown account...)."""


class TooManyAttempts(StaffError):
    pass


@dataclass(frozen=True)
class Staff:
    name: str
    role: str
    languages: tuple[str, ...]
    console_language: str = "en"

    @property
    def supervises(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def can_dispatch(self) -> bool:
        """May assign verifiers, record their findings and approve alerts (bot.network)."""
        return self.role in DISPATCHERS


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf: str
    ends_at: Optional[dt.datetime] = None  # the sooner of the idle and the absolute limits
    visit: str = ""  # a short, stable id of this login, for the audit log


@dataclass(frozen=True)
class AuditEntry:
    staff: str
    ticket_id: int
    action: str
    at: dt.datetime
    detail: Optional[str] = None


@dataclass(frozen=True)
class AuditFilter:
    staff: Optional[str] = None
    ticket_id: Optional[int] = None
    action: Optional[str] = None
    since: Optional[dt.datetime] = None
    until: Optional[dt.datetime] = None


class StaffDirectory:
    def __init__(self, engine: Engine, hasher: Optional[PasswordHasher] = None,
                 idle: dt.timedelta = dt.timedelta(minutes=IDLE_MINUTES)) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self.idle = idle
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
        with transaction(self.engine) as connection:
            existing = connection.execute(sa.select(staff_accounts.c.name).where(
                sa.func.lower(staff_accounts.c.name) == name.lower())).scalar()
            if existing is not None:  # "Lucia" and "lucia" are one account: the first spelling
                name = existing
                connection.execute(sa.update(staff_accounts).where(
                    staff_accounts.c.name == name).values(**row))
                connection.execute(sa.delete(staff_sessions).where(staff_sessions.c.staff == name))
            else:
                connection.execute(sa.insert(staff_accounts).values(name=name, created_at=utc_now(), **row))
        return Staff(name, role, languages)

    def get(self, name: str) -> Optional[Staff]:
        """The account, whatever the case of the name typed."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(staff_accounts).where(
                sa.func.lower(staff_accounts.c.name) == name.strip().lower())).mappings().first()
        return _staff(row) if row is not None else None

    def names(self) -> list[str]:
        with self.engine.connect() as connection:
            return [row[0] for row in _NAMES.execute(connection).rows]

    def everyone(self) -> list[Staff]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(staff_accounts).order_by(staff_accounts.c.name)).mappings().all()
        return [_staff(r) for r in rows]

    def set_console_language(self, name: str, lang: str) -> None:
        with transaction(self.engine) as connection:
            connection.execute(sa.update(staff_accounts).where(
                staff_accounts.c.name == name).values(console_language=lang[:12]))

    # ---- login ----

    def _failures(self, connection: sa.engine.Connection, key: str) -> int:
        return int(connection.execute(sa.select(sa.func.count()).select_from(login_failures).where(
            login_failures.c.key == key, login_failures.c.at > utc_now() - FAILURE_WINDOW)).scalar() or 0)

    def authenticate(self, name: str, password: str, client: str) -> Staff:
        """The account, if the password is right; raises TooManyAttempts or StaffError."""
        # The name's counter is per address: five wrong passwords from one place lock that
        # name there, not everywhere (else anyone could lock a volunteer out by name).
        keys = [_digest(f"name:{name.strip().lower()}|client:{client}"), _digest(f"client:{client}")]
        # The attempt is counted before the password is checked and uncounted if it was
        # right: parallel guesses cannot all slip under the limit while argon2 runs.
        with transaction(self.engine) as connection:
            now = utc_now()
            connection.execute(sa.delete(login_failures).where(login_failures.c.at < now - FAILURE_WINDOW))
            ids = [connection.execute(sa.insert(login_failures).values(key=k, at=now)).inserted_primary_key[0]
                   for k in keys]
            locked = (self._failures(connection, keys[0]) > MAX_FAILURES
                      or self._failures(connection, keys[1]) > MAX_FAILURES_PER_ADDRESS)
            stored = connection.execute(sa.select(staff_accounts.c.password_hash).where(
                sa.func.lower(staff_accounts.c.name) == name.strip().lower())).scalar()
        if locked:
            # A refused attempt is not counted: the lock ends 15 minutes after the failures
            # that caused it, however often the person tries meanwhile.
            with transaction(self.engine) as connection:
                connection.execute(sa.delete(login_failures).where(login_failures.c.id.in_(ids)))
            raise TooManyAttempts("too many failed logins: wait 15 minutes and try again")
        try:
            self.hasher.verify(stored or self._dummy, password)
            ok = stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise StaffError("wrong name or password")
        with transaction(self.engine) as connection:
            connection.execute(sa.delete(login_failures).where(login_failures.c.id.in_(ids)))
        staff = self.get(name.strip())
        if staff is None:  # removed by an admin between the check and now
            raise StaffError("wrong name or password")
        return staff

    # ---- sessions ----

    def start_session(self, staff: Staff) -> tuple[str, Session]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utc_now()
        expires = now + dt.timedelta(hours=SESSION_HOURS)
        with transaction(self.engine) as connection:
            connection.execute(sa.delete(staff_sessions).where(staff_sessions.c.expires_at < now))
            connection.execute(sa.insert(staff_sessions).values(
                token_hash=_digest(token), staff=staff.name, csrf=csrf, expires_at=expires, seen_at=now))
        return token, Session(staff, csrf, min(expires, now + self.idle), _digest(token)[:16])

    def session(self, token: Optional[str], touch: bool = False) -> Optional[Session]:
        """The live session of this cookie, or None. `touch`: the person did something (a
        page, an action), which restarts the inactivity limit; live updates do not."""
        if not token:
            return None
        digest = _digest(token)
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(staff_sessions).where(
                staff_sessions.c.token_hash == digest)).mappings().first()
        if row is None:
            return None
        now = utc_now()
        seen = as_utc(row["seen_at"]) or now
        ends = min(as_utc(row["expires_at"]), seen + self.idle)
        if ends < now:
            return None
        if touch:
            with transaction(self.engine) as connection:
                connection.execute(sa.update(staff_sessions).where(
                    staff_sessions.c.token_hash == digest).values(seen_at=now))
            ends = min(as_utc(row["expires_at"]), now + self.idle)
        staff = self.get(row["staff"])
        return Session(staff, row["csrf"], ends, digest[:16]) if staff is not None else None

    def end_session(self, token: Optional[str]) -> None:
        if token:
            with transaction(self.engine) as connection:
                staff = connection.execute(sa.select(staff_sessions.c.staff).where(
                    staff_sessions.c.token_hash == _digest(token))).scalar()
                connection.execute(sa.delete(staff_sessions).where(
                    staff_sessions.c.token_hash == _digest(token)))
                others = connection.execute(sa.select(staff_sessions.c.token_hash).where(
                    staff_sessions.c.staff == staff, staff_sessions.c.expires_at > utc_now())).first()
            if staff is not None and others is None:
                self.set_on_shift(staff, False)  # logged out everywhere: off shift

    # ---- presence ----

    def set_on_shift(self, name: str, on_shift: bool) -> None:
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(staff_presence).where(
                staff_presence.c.staff == name).values(on_shift=on_shift, seen_at=utc_now())).rowcount
            if not changed:
                connection.execute(sa.insert(staff_presence).values(
                    staff=name, on_shift=on_shift, seen_at=utc_now()))

    def check_in(self, name: str) -> None:
        """An open console page of theirs is still there (every minute)."""
        with transaction(self.engine) as connection:
            connection.execute(sa.update(staff_presence).where(
                staff_presence.c.staff == name).values(seen_at=utc_now()))

    def on_shift(self) -> list[Staff]:
        """Staff who said they are on shift and have a console page open now."""
        now = utc_now()
        with self.engine.connect() as connection:
            names = set(connection.execute(sa.select(staff_presence.c.staff).where(
                staff_presence.c.on_shift.is_(True),
                staff_presence.c.seen_at > now - PRESENT_WITHIN)).scalars())
            signed_in = set(connection.execute(sa.select(staff_sessions.c.staff).where(
                staff_sessions.c.expires_at > now,
                staff_sessions.c.seen_at > now - self.idle)).scalars())
        return [s for s in self.everyone() if s.name in names & signed_in]

    def is_on_shift(self, name: str) -> bool:
        return any(s.name == name for s in self.on_shift())

    def on_shift_languages(self) -> set[str]:
        """The languages someone connected now speaks: for the bot to say honestly whether a
        person can answer in the resident's language now (empty: nobody is connected)."""
        return {lang for s in self.on_shift() for lang in s.languages}

    # ---- audit ----

    def audit(self, staff: str, ticket_id: int, action: str = OPENED, detail: Optional[str] = None,
              visit: str = "") -> None:
        with transaction(self.engine) as connection:
            connection.execute(sa.insert(audit_log).values(
                staff=staff, ticket_id=ticket_id, action=action[:30],
                detail=detail[:120] if detail else None, visit=visit or None, at=utc_now()))

    def audit_opening(self, staff: str, ticket_id: int, visit: str) -> bool:
        """Record that `staff` opened the transcript, once per visit: a refresh, or coming
        back from the queue to the same ticket, is the same visit; opening another ticket
        in between (or logging in again) starts a new one. True if recorded."""
        with transaction(self.engine) as connection:
            last = connection.execute(sa.select(audit_log.c.ticket_id).where(
                audit_log.c.staff == staff, audit_log.c.visit == visit,
                audit_log.c.action == OPENED).order_by(audit_log.c.id.desc()).limit(1)).scalar()
            if visit and last == ticket_id:
                return False
            connection.execute(sa.insert(audit_log).values(
                staff=staff, ticket_id=ticket_id, action=OPENED, visit=visit or None, at=utc_now()))
        return True

    def audit_media_view(self, staff: str, ticket_id: int, media_id: int, kind: str,
                         visit: str) -> bool:
        """Record that `staff` viewed (or played) a photo or voice note: once per visit and
        item, as with transcripts (the page's live refresh fetches the image again, and
        a player asks in parts: neither is a new look). True if recorded."""
        detail = f"{kind[:10]} {media_id}"
        with transaction(self.engine) as connection:
            if visit and connection.execute(sa.select(audit_log.c.id).where(
                    audit_log.c.staff == staff, audit_log.c.visit == visit,
                    audit_log.c.action == VIEWED_MEDIA, audit_log.c.ticket_id == ticket_id,
                    audit_log.c.detail == detail).limit(1)).first() is not None:
                return False
            connection.execute(sa.insert(audit_log).values(
                staff=staff, ticket_id=ticket_id, action=VIEWED_MEDIA, detail=detail,
                visit=visit or None, at=utc_now()))
        return True

    def has_opened(self, staff: str, ticket_id: int) -> bool:
        """Whether this person opened the ticket's page (audited) within one session's span."""
        since = utc_now() - dt.timedelta(hours=SESSION_HOURS)
        with self.engine.connect() as connection:
            return connection.execute(sa.select(audit_log.c.id).where(
                audit_log.c.staff == staff, audit_log.c.ticket_id == ticket_id,
                audit_log.c.action == OPENED, audit_log.c.at > since).limit(1)).first() is not None

    def audit_entries(self, limit: int = 200, ticket_id: Optional[int] = None,
                      where: AuditFilter = AuditFilter()) -> list[AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if ticket_id is not None:
            where = AuditFilter(where.staff, ticket_id, where.action, where.since, where.until)
        if where.ticket_id is not None:
            query = query.where(audit_log.c.ticket_id == where.ticket_id)
        if where.staff:
            query = query.where(sa.func.lower(audit_log.c.staff) == where.staff.lower())
        if where.action:
            query = query.where(audit_log.c.action == where.action)
        if where.since is not None:
            query = query.where(audit_log.c.at >= where.since)
        if where.until is not None:
            query = query.where(audit_log.c.at < where.until)
        with self.engine.connect() as connection:
            return [AuditEntry(r["staff"], r["ticket_id"], r["action"], as_utc(r["at"]), r["detail"])
                    for r in connection.execute(query).mappings()]
