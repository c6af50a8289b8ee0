"""The alert service: the one writer of alert state; two people agree before anyone is alerted.

    draft (one person) -> approved (a second person with the dispatcher role) -> sending
    -> sent (the broadcaster, bot.app.broadcast);  draft | approved -> withdrawn

An ALERT is drafted from a CONFIRMED report only (bot.network.reports); an ALL_CLEAR or a
CORRECTION is an alert of its own, linked to an approved (or sent) alert. Nobody approves
their own draft, and approval needs `can_dispatch` (bot.handoff.staff). Every alert has an
expiry, in the future and at most MAX_EXPIRY ahead, checked again at approval.

An alert names areas and a time, never an address: its words are a reviewed template in
the content (`template`, a key under "alerts.", with `params` filled in per language), plus
free text only in the languages the author wrote it in (sealed at rest; marked as written
by staff when shown). Parameters and free text that read as a street address are refused.

Each transition is one conditional UPDATE (WHERE state = expected), so of two people
approving at once, or an approval and a withdrawal, exactly one wins and the other gets an
AlertError saying what happened; each appends an event (kind, actor, time): the audit of
who drafted, approved and sent every alert, and the console's version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Connection, Engine

from bot.core.actors import BOT, same_person, staff_actor
from bot.core.areas import area as find_area
from bot.network import looks_like_address
from bot.network.reports import CONFIRMED
from bot.storage.addresses import sealer
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.events import EventLog
from bot.storage.schema import alert_deliveries, alert_events, alerts, reports

ALERT, ALL_CLEAR, CORRECTION = "alert", "all_clear", "correction"
KINDS = (ALERT, ALL_CLEAR, CORRECTION)
DRAFT, APPROVED, SENDING, SENT, WITHDRAWN = "draft", "approved", "sending", "sent", "withdrawn"
STATES = (DRAFT, APPROVED, SENDING, SENT, WITHDRAWN)
LIVE = (APPROVED, SENDING, SENT)  # what an all clear or a correction can follow

MAX_EXPIRY = dt.timedelta(hours=24)  # an alert says what is happening now, not for days
MAX_AREAS = 20
MAX_PARAM = 60  # a parameter is a word or a time ("agents", "14:30"), not a description
MAX_FREE_TEXT = 700
TEMPLATE_PREFIX = "alerts."
_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")
_TEMPLATE = re.compile(r"alerts\.[a-z0-9_.]{1,72}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
MAX_ID = 2**31 - 1


class AlertError(Exception):
    """A change the alert's state or the two-person rule does not allow; says why, for staff."""


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    state: str
    areas: tuple[str, ...]
    template: str  # content key, e.g. "alerts.template_agents"
    params: dict[str, str]  # e.g. {"what": "agents", "time": "14:30"}, rendered per language
    free_text: dict[str, str]  # lang -> text written by the author (shown as such); may be {}
    report_id: Optional[int]
    parent_id: Optional[int]
    expires_at: dt.datetime
    drafted_by: str  # "staff:<name>"
    approved_by: Optional[str]
    created_at: dt.datetime
    approved_at: Optional[dt.datetime]

    def expired(self, now: Optional[dt.datetime] = None) -> bool:
        return (now or utc_now()) >= self.expires_at


def _areas(codes: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(codes))
    if not found:
        raise AlertError("an alert names at least one area")
    if len(found) > MAX_AREAS:
        raise AlertError(f"an alert names at most {MAX_AREAS} areas")
    unknown = [code for code in found if find_area(code) is None]
    if unknown:
        raise AlertError(f"unknown area(s): {', '.join(unknown)}")
    return found


def _params(params: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in params.items():
        text = str(value).strip()
        if not _NAME.fullmatch(name):
            raise AlertError(f"parameter name {name!r} is not a short lowercase word")
        if len(text) > MAX_PARAM:
            raise AlertError(f"parameter {name} is longer than {MAX_PARAM} characters")
        if looks_like_address(text):
            raise AlertError(f"parameter {name} reads as a street address: alerts name areas only")
        checked[name] = text
    return checked


def _free_text(free_text: Optional[Mapping[str, str]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for lang, value in (free_text or {}).items():
        text = str(value).strip()
        if not text:
            continue
        if not _LANGUAGE.fullmatch(lang):
            raise AlertError(f"{lang!r} is not a language code")
        if len(text) > MAX_FREE_TEXT:
            raise AlertError(f"the {lang} text is longer than {MAX_FREE_TEXT} characters")
        if looks_like_address(text):
            raise AlertError(f"the {lang} text reads as a street address: alerts name areas only")
        checked[lang] = text
    return checked


class AlertService:
    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.fernet: Fernet = sealer(secret, b"kyr-alerts-v1")
        self.log = EventLog(engine, alert_events, "alert_id")  # who changed what, when

    def _open(self, sealed: Optional[str]) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            return dict(json.loads(self.fernet.decrypt(sealed.encode()).decode()))
        except InvalidToken:  # KYR_SECRET_KEY changed: the staff text is unreadable
            return {}

    def _alert(self, row: sa.engine.RowMapping) -> Alert:
        return Alert(
            id=int(row["id"]), kind=row["kind"], state=row["state"],
            areas=tuple(json.loads(row["areas"])), template=row["template"],
            params=dict(json.loads(row["params"])), free_text=self._open(row["free_text"]),
            report_id=row["report_id"], parent_id=row["parent_id"],
            expires_at=as_utc(row["expires_at"]), drafted_by=row["drafted_by"],
            approved_by=row["approved_by"], created_at=as_utc(row["created_at"]),
            approved_at=as_utc(row["approved_at"]))

    # ---- reading (List, not list, below: `list` is a method here) ----

    def get(self, alert_id: int, connection: Optional[Connection] = None) -> Alert:
        if not 0 < alert_id <= MAX_ID:
            raise AlertError(f"alert {alert_id} does not exist")
        query = sa.select(alerts).where(alerts.c.id == alert_id)
        if connection is None:
            with self.engine.connect() as own:
                row = own.execute(query).mappings().first()
        else:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise AlertError(f"alert {alert_id} does not exist")
        return self._alert(row)

    def list(self, limit: int = 50, states: Sequence[str] = ()) -> List[Alert]:
        """The newest alerts (in these states), newest first."""
        query = sa.select(alerts).order_by(alerts.c.id.desc()).limit(max(limit, 0))
        if states:
            query = query.where(alerts.c.state.in_(list(states)))
        with self.engine.connect() as connection:
            return [self._alert(r) for r in connection.execute(query).mappings()]

    def followers(self, alert_id: int) -> List[Alert]:
        """The all clears and corrections linked to this alert, oldest first."""
        query = sa.select(alerts).where(alerts.c.parent_id == alert_id).order_by(alerts.c.id)
        with self.engine.connect() as connection:
            return [self._alert(r) for r in connection.execute(query).mappings()]

    def events(self, alert_id: int) -> List[tuple[str, str, dt.datetime]]:
        """(kind, actor, at) of every change, oldest first."""
        return self.log.history(alert_id)

    def version(self) -> int:
        """Grows with every change to any alert: the console's live cue."""
        return self.log.version()

    # ---- the one writer ----

    def draft(self, author: str, *, kind: str, areas: Iterable[str], template: str,
              params: Mapping[str, str], expires_at: dt.datetime, report_id: Optional[int] = None,
              parent_id: Optional[int] = None,
              free_text: Optional[Mapping[str, str]] = None) -> Alert:
        """A draft for a second person to approve. An ALERT names its CONFIRMED report; an
        ALL_CLEAR or a CORRECTION names the approved alert it follows (`parent_id`) and takes
        its report."""
        actor = staff_actor(author, AlertError)
        if kind not in KINDS:
            raise AlertError(f"the kind must be one of {', '.join(KINDS)}")
        codes, values, texts = _areas(areas), _params(params), _free_text(free_text)
        if not _TEMPLATE.fullmatch(template):
            raise AlertError(f"the template must be a content key under {TEMPLATE_PREFIX!r}")
        expires = self._check_expiry(expires_at)
        if kind == ALERT and report_id is None:
            raise AlertError("an alert is drafted from a confirmed report")
        if kind == ALERT and parent_id is not None:
            raise AlertError("an alert follows no other: an all clear or a correction does")
        if kind != ALERT and parent_id is None:
            raise AlertError(f"a{'n all clear' if kind == ALL_CLEAR else ' correction'} names "
                             "the alert it follows")
        now = utc_now()
        with transaction(self.engine) as connection:
            # What it follows and comes from, then the row. A decided report stays decided;
            # a parent withdrawn a moment later leaves a draft its approver will see.
            if parent_id is not None:
                parent = connection.execute(sa.select(alerts.c.state, alerts.c.report_id).where(
                    alerts.c.id == parent_id)).first() if 0 < parent_id <= MAX_ID else None
                if parent is None:
                    raise AlertError(f"alert {parent_id} does not exist")
                if parent.state not in LIVE:
                    raise AlertError(f"alert {parent_id} is {parent.state}: only an approved "
                                     "alert can be followed by an all clear or a correction")
                if report_id is None and parent.report_id is not None:
                    report_id = int(parent.report_id)
            if kind == ALERT:
                state = connection.execute(sa.select(reports.c.state).where(
                    reports.c.id == report_id)).scalar() if 0 < (report_id or 0) <= MAX_ID else None
                if state is None:
                    raise AlertError(f"report {report_id} does not exist")
                if state != CONFIRMED:
                    raise AlertError(f"report {report_id} is {state}: only a confirmed report "
                                     "becomes an alert")
            sealed = (self.fernet.encrypt(json.dumps(texts, sort_keys=True).encode()).decode()
                      if texts else None)
            alert_id = int(connection.execute(sa.insert(alerts).values(
                kind=kind, state=DRAFT, areas=json.dumps(list(codes)), template=template,
                params=json.dumps(values, sort_keys=True), free_text=sealed,
                report_id=report_id, parent_id=parent_id, expires_at=expires,
                drafted_by=actor, created_at=now, updated_at=now)).inserted_primary_key[0])
            self.log.write(connection, alert_id, "drafted", actor, now)
        return self.get(alert_id)

    def _check_expiry(self, expires_at: dt.datetime) -> dt.datetime:
        if expires_at.tzinfo is None:
            raise AlertError("the expiry needs a time zone")
        now = utc_now()
        if expires_at <= now:
            raise AlertError("the expiry must be in the future")
        if expires_at - now > MAX_EXPIRY:
            raise AlertError(f"an alert expires within {int(MAX_EXPIRY.total_seconds() // 3600)} "
                             "hours: send a new one if it goes on")
        return expires_at.astimezone(dt.timezone.utc)

    def approve(self, alert_id: int, approver: str, can_dispatch: bool) -> Alert:
        """The second person: draft -> approved. Not the author, only with the dispatcher
        role (or above), and not once the alert has expired."""
        actor = staff_actor(approver, AlertError)
        if not can_dispatch:
            raise AlertError("approving an alert needs the dispatcher role")
        now = utc_now()
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(alerts).where(
                alerts.c.id == alert_id, alerts.c.state == DRAFT,
                sa.func.lower(alerts.c.drafted_by) != actor.lower(),
                alerts.c.expires_at > now).values(
                state=APPROVED, approved_by=actor, approved_at=now, updated_at=now)).rowcount
            if changed != 1:
                current = self.get(alert_id, connection)
                if current.state != DRAFT:
                    raise AlertError(f"alert {alert_id} is {current.state} "
                                     f"({self.log.last_actor(connection, alert_id)}): only a draft "
                                     "can be approved")
                if same_person(current.drafted_by, actor):
                    raise AlertError("a second person approves an alert: not the one who drafted it")
                raise AlertError(f"alert {alert_id} expired before it was approved: draft it again")
            self.log.write(connection, alert_id, "approved", actor, now)
        return self.get(alert_id)

    def withdraw(self, alert_id: int, actor: str) -> Alert:
        """Stop an alert that has not started going out: draft | approved -> withdrawn. Once
        the broadcaster has marked it sending, a correction is the way to take it back."""
        who = staff_actor(actor, AlertError)
        now = utc_now()
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(alerts).where(
                alerts.c.id == alert_id, alerts.c.state.in_((DRAFT, APPROVED))).values(
                state=WITHDRAWN, updated_at=now)).rowcount
            if changed != 1:
                current = self.get(alert_id, connection)
                raise AlertError(f"alert {alert_id} is {current.state}: "
                                 + ("send a correction instead" if current.state in (SENDING, SENT)
                                    else "it cannot be withdrawn"))
            self.log.write(connection, alert_id, "withdrawn", who, now)
        return self.get(alert_id)

    def mark(self, alert_id: int, state: str, actor: str = BOT) -> Alert:
        """The broadcaster's transitions: approved -> sending (before the first delivery row,
        so a withdrawal cannot race it; not once the alert has expired), sending -> sent.
        Each is taken once: a second broadcaster marking the same alert gets an AlertError."""
        before = {SENDING: APPROVED, SENT: SENDING}.get(state)
        if before is None:
            raise AlertError(f"the broadcaster marks an alert {SENDING} or {SENT}, not {state}")
        now = utc_now()
        expected = alerts.c.state == before
        if state == SENDING:  # an alert that expired waiting (the bot was down) says old news
            expected = sa.and_(expected, alerts.c.expires_at > now)
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(alerts).where(
                alerts.c.id == alert_id, expected).values(state=state, updated_at=now)).rowcount
            if changed != 1:
                current = self.get(alert_id, connection)
                if current.state == before:
                    raise AlertError(f"alert {alert_id} expired before it went out: not sent")
                raise AlertError(f"alert {alert_id} is {current.state}: it cannot become {state}")
            self.log.write(connection, alert_id, state, actor, now)
        return self.get(alert_id)

    # ---- retention ----

    def purge(self, older_than: dt.timedelta) -> int:
        """Delete alerts that expired and last changed longer ago than `older_than`, with
        their events and delivery rows; the counts stay (bot.app.counters counted them when
        they went out). An alert goes only with all of its all clears and corrections, and
        never while it is sending (the broadcaster may be resuming it)."""
        cutoff = utc_now() - older_than
        with transaction(self.engine) as connection:
            rows = connection.execute(sa.select(
                alerts.c.id, alerts.c.parent_id, alerts.c.state, alerts.c.expires_at,
                alerts.c.updated_at)).all()
            old = {int(r.id) for r in rows if r.state != SENDING
                   and as_utc(r.expires_at) < cutoff and as_utc(r.updated_at) < cutoff}
            children: dict[int, list[int]] = {}
            for r in rows:
                if r.parent_id is not None:
                    children.setdefault(int(r.parent_id), []).append(int(r.id))

            def chain(alert_id: int) -> list[int]:
                found: list[int] = []
                todo = [alert_id]
                while todo and len(found) <= len(rows):
                    current = todo.pop()
                    found.append(current)
                    todo.extend(children.get(current, ()))
                return found

            doomed: set[int] = set()
            for r in rows:
                if r.parent_id is None and int(r.id) in old:
                    members = chain(int(r.id))
                    if all(m in old for m in members):
                        doomed.update(members)
            if not doomed:
                return 0
            ids = sorted(doomed)
            connection.execute(sa.delete(alert_deliveries).where(
                alert_deliveries.c.alert_id.in_(ids)))
            connection.execute(sa.delete(alert_events).where(alert_events.c.alert_id.in_(ids)))
            connection.execute(sa.update(alerts).where(alerts.c.id.in_(ids)).values(
                parent_id=None))
            return int(connection.execute(sa.delete(alerts).where(
                alerts.c.id.in_(ids))).rowcount)
