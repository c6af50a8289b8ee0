"""The report service: the one writer of report state, recording who changed it and when.

A resident reports what they saw (what, where, when, still happening); a dispatcher assigns
a verifier, who goes and records what they found:

    new -> verifying (verifier assigned; may be reassigned) -> confirmed | not_confirmed
                                                              | unable_to_confirm

Only a confirmed report can become an alert (bot.network.alerts). Most reports are not
enforcement, and some are made to frighten neighbours, so nothing here reaches residents.

Cross streets and the verifier's note are sealed with a key derived from KYR_SECRET_KEY
and opened for staff only. A report keeps no resident identity: the ticket it came with is
its only link, and /delete cuts it (`forget_tickets`). Reports go after the retention
period like conversations (`purge`). The decided outcome is counted for the transparency
report through the `counter` given (bot.app.counters.Counters in the running bot).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, Sequence

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Connection, Engine

from bot.core.actors import RESIDENT, staff_actor, staff_name
from bot.core.areas import area as find_area
from bot.core.streets import MAX_LENGTH as MAX_CROSS_STREETS
from bot.network import without_house_numbers
from bot.storage.addresses import sealer
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.events import EventLog
from bot.storage.schema import report_events, reports, tickets

NEW, VERIFYING, CONFIRMED, NOT_CONFIRMED, UNABLE = (
    "new", "verifying", "confirmed", "not_confirmed", "unable_to_confirm")
OUTCOMES = (CONFIRMED, NOT_CONFIRMED, UNABLE)
STATES = (NEW, VERIFYING) + OUTCOMES
WHAT = ("agents", "vehicles", "arrest", "checkpoint", "other")  # what was seen
WHEN = ("now", "last_hour", "today", "earlier")  # when it was seen

# The transparency report's words for a decided report (bot.app.counters.REPORT_OUTCOMES).
COUNTED_AS = {CONFIRMED: "verified", NOT_CONFIRMED: "not_confirmed", UNABLE: "unverified"}
MAX_NOTE = 1000
MAX_ID = 2**31 - 1


class ReportError(Exception):
    """A change the report's state does not allow; the message says why, for staff."""


class ReportCounter(Protocol):
    """What counts a decided report (bot.app.counters.Counters.report)."""

    def report(self, area: str, report: str, outcome: str,
               connection: Optional[Connection] = None) -> None: ...


@dataclass(frozen=True)
class Report:
    id: int
    state: str
    area: str
    what: tuple[str, ...]
    when: str
    ongoing: Optional[bool]
    cross_streets: Optional[str]  # sealed at rest, opened for staff; never a home address
    language: str
    channel: str
    ticket_id: Optional[int]
    verifier: Optional[str]
    outcome_note: Optional[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def decided(self) -> bool:
        return self.state in OUTCOMES


class ReportService:
    def __init__(self, engine: Engine, secret: bytes, counters: Optional[ReportCounter] = None) -> None:
        self.engine = engine
        self.counters = counters
        self.fernet: Fernet = sealer(secret, b"kyr-reports-v1")
        self.log = EventLog(engine, report_events, "report_id")  # who changed what, when

    # ---- sealing ----

    def _seal(self, text: Optional[str]) -> Optional[str]:
        return self.fernet.encrypt(text.encode()).decode() if text else None

    def _open(self, sealed: Optional[str]) -> Optional[str]:
        if sealed is None:
            return None
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:  # KYR_SECRET_KEY changed: unreadable, say nothing
            return None

    def _report(self, row: sa.engine.RowMapping) -> Report:
        return Report(
            id=int(row["id"]), state=row["state"], area=row["area"],
            what=tuple(json.loads(row["what"])), when=row["seen"],
            ongoing=None if row["ongoing"] is None else bool(row["ongoing"]),
            cross_streets=self._open(row["cross_streets"]), language=row["language"],
            channel=row["channel"], ticket_id=row["ticket_id"], verifier=row["verifier"],
            outcome_note=self._open(row["outcome_note"]), created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]))

    # ---- reading ----

    def get(self, report_id: int, connection: Optional[Connection] = None) -> Report:
        if not 0 < report_id <= MAX_ID:
            raise ReportError(f"report {report_id} does not exist")
        query = sa.select(reports).where(reports.c.id == report_id)
        if connection is None:
            with self.engine.connect() as own:
                row = own.execute(query).mappings().first()
        else:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise ReportError(f"report {report_id} does not exist")
        return self._report(row)

    def queue(self, states: Sequence[str] = (NEW, VERIFYING)) -> list[Report]:
        """Reports waiting for someone: still happening first, then oldest."""
        query = sa.select(reports).where(reports.c.state.in_(list(states))).order_by(
            sa.case((reports.c.ongoing.is_(True), 0), else_=1), reports.c.created_at, reports.c.id)
        with self.engine.connect() as connection:
            return [self._report(r) for r in connection.execute(query).mappings()]

    def recent(self, limit: int = 50) -> list[Report]:
        """The newest reports in any state, newest first."""
        query = sa.select(reports).order_by(reports.c.id.desc()).limit(max(limit, 0))
        with self.engine.connect() as connection:
            return [self._report(r) for r in connection.execute(query).mappings()]

    def events(self, report_id: int) -> list[tuple[str, str, dt.datetime]]:
        """(kind, actor, at) of every change, oldest first."""
        return self.log.history(report_id)

    def version(self) -> int:
        """Grows with every change to any report: the console's live cue."""
        return self.log.version()

    # ---- the one writer ----

    def file(self, *, area: str, what: Iterable[str], when: str, ongoing: Optional[bool],
             language: str, channel: str, ticket_id: Optional[int] = None,
             cross_streets: Optional[str] = None) -> Report:
        """A resident's report, as the flow collected it (actor "resident")."""
        if find_area(area) is None:
            raise ReportError(f"unknown area {area!r}")
        seen = tuple(dict.fromkeys(w for w in what))  # in order, once each
        if not seen or any(w not in WHAT for w in seen):
            raise ReportError(f"what was seen must be some of {', '.join(WHAT)}")
        if when not in WHEN:
            raise ReportError(f"when must be one of {', '.join(WHEN)}")
        streets = without_house_numbers((cross_streets or "").strip())[:MAX_CROSS_STREETS] or None
        now = utc_now()
        with transaction(self.engine) as connection:
            report_id = int(connection.execute(sa.insert(reports).values(
                state=NEW, area=area, what=json.dumps(list(seen)), seen=when,
                ongoing=ongoing, cross_streets=self._seal(streets), language=language[:12],
                channel=channel[:20], ticket_id=ticket_id, created_at=now,
                updated_at=now)).inserted_primary_key[0])
            self.log.write(connection, report_id, "filed", RESIDENT, now)
        return self.get(report_id)

    def assign(self, report_id: int, dispatcher: str, verifier: str,
               replacing: Optional[str] = None) -> Report:
        """A dispatcher sends a verifier: new -> verifying. To send someone else to a report
        being verified, name the verifier they replace (`replacing`, as the console showed
        it): of two dispatchers acting on the same page at once, exactly one wins and the
        other is told who did, instead of two people being sent."""
        actor = staff_actor(dispatcher, ReportError)
        name = staff_name(staff_actor(verifier, ReportError))  # one word, as accounts are
        if replacing is None:
            expected = reports.c.state == NEW
        else:
            expected = sa.and_(reports.c.state == VERIFYING,
                               sa.func.lower(reports.c.verifier) == staff_name(replacing).lower())
        now = utc_now()
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(reports).where(
                reports.c.id == report_id, expected).values(
                state=VERIFYING, verifier=name[:80], updated_at=now)).rowcount
            if changed != 1:
                current = self.get(report_id, connection)
                if current.state == VERIFYING:
                    raise ReportError(f"report {report_id} is being verified by {current.verifier}"
                                      f" ({self.log.last_actor(connection, report_id)} sent them)")
                raise ReportError(f"report {report_id} is {current.state}: it cannot be assigned")
            self.log.write(connection, report_id, "assigned" if replacing is None else "reassigned",
                        actor, now)
        return self.get(report_id)

    def record(self, report_id: int, actor: str, outcome: str, note: str = "",
               can_dispatch: bool = False) -> Report:
        """What the verifier found: verifying -> confirmed | not_confirmed | unable_to_confirm.

        The assigned verifier records it, or a dispatcher (`can_dispatch`) who heard from
        them by phone. Counted for the transparency report in the same transaction."""
        if outcome not in OUTCOMES:
            raise ReportError(f"the outcome must be one of {', '.join(OUTCOMES)}")
        who = staff_actor(actor, ReportError)
        expected = reports.c.state == VERIFYING
        if not can_dispatch:
            expected = sa.and_(expected, sa.func.lower(reports.c.verifier) == staff_name(actor).lower())
        now = utc_now()
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(reports).where(
                reports.c.id == report_id, expected).values(
                state=outcome, outcome_note=self._seal(note.strip()[:MAX_NOTE]),
                updated_at=now)).rowcount
            current = self.get(report_id, connection)
            if changed != 1:
                if current.state == VERIFYING:
                    raise ReportError(f"report {report_id} is being verified by {current.verifier}: "
                                      "only they or a dispatcher can record what was found")
                raise ReportError(f"report {report_id} is {current.state}"
                                  f" ({self.log.last_actor(connection, report_id)}): only a report "
                                  "being verified gets an outcome")
            self.log.write(connection, report_id, outcome, who, now)
            if self.counters is not None:
                self.counters.report(current.area, report=current.what[0],
                                     outcome=COUNTED_AS[outcome], connection=connection)
        return self.get(report_id)

    # ---- privacy ----

    def forget_tickets(self, ticket_ids: Iterable[int]) -> int:
        """/delete: the reports that came with these tickets keep no link to them and no
        cross streets (what, area and outcome stay: they are the network's record)."""
        ids = list(ticket_ids)
        if not ids:
            return 0
        with transaction(self.engine) as connection:
            return int(connection.execute(sa.update(reports).where(
                reports.c.ticket_id.in_(ids)).values(ticket_id=None, cross_streets=None)).rowcount)

    def forget_resident(self, resident: str) -> int:
        """`forget_tickets` for the resident's tickets: call before the tickets are erased."""
        with self.engine.connect() as connection:
            ids = connection.execute(sa.select(tickets.c.id).where(
                tickets.c.resident == resident)).scalars().all()
        return self.forget_tickets(int(i) for i in ids)

    def purge(self, older_than: dt.timedelta) -> int:
        """Delete reports filed longer ago than `older_than`, and their events (the decided
        ones were counted when decided; the counts stay)."""
        cutoff = utc_now() - older_than
        old = sa.select(reports.c.id).where(reports.c.created_at < cutoff).scalar_subquery()
        with transaction(self.engine) as connection:
            connection.execute(sa.delete(report_events).where(report_events.c.report_id.in_(old)))
            return int(connection.execute(sa.delete(reports).where(
                reports.c.created_at < cutoff)).rowcount)
