"""Alerts to subscribers, through the outbox: one delivery row per (alert, subscriber).

`start` writes, a batch at a time, each subscriber's delivery row together with its outbox
row (priority BULK) in one transaction; the unique key (alert, resident) makes a start that
a crash cut short, resumed, skip who already has one, so nobody gets an alert twice and
nobody is left out. The outbox sends at the platform's pace, bulk in its own lane under a
share of the limit (bot.app.pacing); the outbox's observer moves each delivery row to sent
or failed in the transaction that marks its outbox row, and a gate asked before a row is
paced skips it when the resident stopped alerts since (opted_out).

Words: the alert's template key rendered in each subscriber's language with the areas'
names and the times; the author's own text only in the languages they wrote it in. On
WhatsApp, within the 24-hour window (with an hour to spare) the alert goes as text;
outside it, as the approved template the content names (content/whatsapp/templates.yml).
A template counts toward WhatsApp's daily limit of unique users (KYR_WHATSAPP_TIER, over a
rolling 24 hours): rows past it are `held` and released by `resume` when the window
allows, most urgent first (alerts before corrections before all clears, the alert's
first area, the report's, first). `plan` says before approval how many would be held.

The alert's own state is AlertService's (`mark`: approved -> sending before the first row,
sending -> sent when every row is done).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, Sequence

import sqlalchemy as sa
import yaml
from babel.dates import format_time
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Connection, Engine

from bot.app.counters import Counters
from bot.app.outbox import BULK, Claimed, Delivery, Draft, Outbox, message_item
from bot.app.queue_tables import in_db_thread, on_db_thread
from bot.core.actors import BOT
from bot.core.areas import area as find_area
from bot.core.i18n import babel_locale
from bot.core.lines import CHICAGO
from bot.core.messages import OutboundMessage
from bot.network.alerts import ALERT, ALL_CLEAR, APPROVED, CORRECTION, SENDING, SENT as ALERT_SENT
from bot.network.alerts import Alert, AlertError, AlertService
from bot.network.subscriptions import Subscriber, Subscriptions
from bot.storage.addresses import sealer
from bot.storage.schema import addresses, alert_broadcasts, alert_deliveries as deliveries
from bot.storage.schema import outbox as outbox_table, subscription_areas, subscriptions
from bot.storage.db import transaction

if TYPE_CHECKING:  # the services import Rasa; this module is imported without it
    from bot.app.services import Services

logger = logging.getLogger(__name__)

ALERTS_PURPOSE = "alerts"  # the address purpose of a subscription (bot.app.residents)
QUEUED, HELD, SENT, FAILED, OPTED_OUT = "queued", "held", "sent", "failed", "opted_out"
STATES = (QUEUED, HELD, SENT, FAILED, OPTED_OUT)
WHATSAPP = "whatsapp"
WINDOW = dt.timedelta(hours=24)  # WhatsApp's customer service window
WINDOW_SPARE = dt.timedelta(hours=1)  # text only while this much of it is left
TIER_PERIOD = 24 * 3600.0  # seconds: the messaging limit counts over a moving 24 hours
BATCH = 500
URGENCY = {ALERT: 0, CORRECTION: 1, ALL_CLEAR: 2}  # x 100 + the area's place in the alert
STAFF_NOTE = "alerts.staff_note"  # content key wrapping the author's own words, {text}
_TIER_LOCK = 0x6B7972  # PostgreSQL advisory lock: one releaser at a time, in every worker
_OUTBOX_STATES = {"sent": SENT, "failed": FAILED, "skipped": OPTED_OUT}


class BroadcastError(Exception):
    """Why an alert cannot be sent (for staff)."""


class Texts(Protocol):
    """What the broadcaster needs of bot.core.render.Renderer."""

    def text(self, lang: str, key: str, isolated: bool = True, **extra: str) -> str: ...


@dataclass(frozen=True)
class Plan:
    subscribers: int
    by_channel: dict[str, int]
    whatsapp_templates: int  # outside the 24-hour window: they count toward the tier
    whatsapp_tier: int | None  # None: unlimited
    over_tier: int  # would be held now, and sent as the rolling 24 hours allow


@dataclass(frozen=True)
class Progress:
    total: int
    queued: int
    held: int
    sent: int
    failed: int
    opted_out: int


# ---- which WhatsApp template carries which alert ----

@dataclass(frozen=True)
class WhatsAppTemplate:
    name: str  # as approved in Meta's WhatsApp Manager (category utility)
    languages: dict[str, str]  # our language code -> the approved translation's code
    parameters: tuple[str, ...]  # the body's {{1}}, {{2}}, ...: area, time, expires or a param
    named: bool = False  # made with named parameters: sent with parameter_name

    def language(self, lang: str) -> str | None:
        return self.languages.get(lang) or self.languages.get(lang.split("_")[0])


def load_whatsapp_templates(path: Path) -> dict[str, WhatsAppTemplate]:
    """content/whatsapp/templates.yml: `whatsapp_templates:` alert template key -> name,
    languages, parameters. A missing file means no templates (WhatsApp subscribers outside
    the window then fail with a reason staff can read, and `plan` says so first)."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = data.get("whatsapp_templates") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise BroadcastError(f"{path}: expected 'whatsapp_templates:' with one entry per alert "
                             "template key")
    found: dict[str, WhatsAppTemplate] = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or \
                not isinstance(entry.get("languages"), dict) or not entry["languages"]:
            raise BroadcastError(f"{path}: '{key}' needs name and languages (ours: Meta's code)")
        parameters = entry.get("parameters") or []
        if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
            raise BroadcastError(f"{path}: '{key}' parameters must be a list of field names")
        found[str(key)] = WhatsAppTemplate(
            entry["name"], {str(k): str(v) for k, v in entry["languages"].items()},
            tuple(parameters), bool(entry.get("named")))
    return found


# ---- the broadcaster ----

def _chunks(items: Iterable[Subscriber], size: int) -> Iterator[list[Subscriber]]:
    batch: list[Subscriber] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Broadcaster:
    def __init__(self, db: Engine, secret: bytes, outbox: Outbox, alerts: AlertService,
                 subscriptions: Subscriptions, renderer: Texts,
                 counters: Optional[Counters] = None,
                 templates: Optional[Mapping[str, WhatsAppTemplate]] = None,
                 tier: int | None = 250, clock: Callable[[], float] = time.time,
                 batch: int = BATCH, has_text: Optional[Callable[[str], bool]] = None) -> None:
        self.db = db
        self.outbox = outbox
        self.alerts = alerts
        self.subscriptions = subscriptions
        self.renderer = renderer
        self.counters = counters
        self.templates = dict(templates or {})
        self.tier = tier
        self.clock = clock
        self.batch = batch
        self.addresses = sealer(secret)  # kyr_addresses' key (bot.storage.addresses)
        content = getattr(renderer, "content", None)
        self.has_text = has_text or (lambda key: key in getattr(content, "texts", {}))
        self._lock = threading.Lock()  # SQLite: one releaser per process (PostgreSQL: advisory)
        outbox.observers.append(self.observe)

    # ---- words ----

    def _fields(self, alert: Alert, lang: str) -> dict[str, str]:
        names = []  # "24 West Town": as residents pick them (number and name)
        for code in alert.areas:
            found = find_area(code)
            names.append(found.label if found else code)
        locale = babel_locale(lang)
        expires = format_time(alert.expires_at.astimezone(CHICAGO), "short", locale=locale)
        sent = format_time((alert.approved_at or alert.created_at).astimezone(CHICAGO), "short",
                           locale=locale)
        return {"time": sent, **alert.params, "area": ", ".join(names),
                "areas": ", ".join(names), "expires": expires}

    def words(self, alert: Alert, lang: str) -> str:
        """The alert in `lang`: the reviewed template, and the author's text only if they
        wrote it in this language (marked as theirs)."""
        text = self.renderer.text(lang, alert.template, True, **self._fields(alert, lang))
        own = alert.free_text.get(lang)
        if own:
            note = self.renderer.text(lang, STAFF_NOTE, text=own) \
                if self.has_text(STAFF_NOTE) else own
            text = f"{text}\n\n{note}"
        return text

    def _template_item(self, alert: Alert, lang: str) -> dict[str, Any] | None:
        template = self.templates.get(alert.template)
        code = template.language(lang) or template.language("en") if template else None
        if template is None or code is None:
            return None
        fields = self._fields(alert, lang)
        item: dict[str, Any] = {"name": template.name, "language": code,
                                "parameters": [fields.get(p, "") for p in template.parameters]}
        if template.named:
            item["names"] = list(template.parameters)
        return item

    def _item(self, alert: Alert, sub: Subscriber | _Held, area: str,
              template: dict[str, Any] | None, cache: dict[str, str]) -> dict[str, Any]:
        """What the outbox row carries: the message (or template), and what the gate and
        the observer need to know without opening anything else."""
        if template is not None:
            body: dict[str, Any] = {"template": template}
        else:
            if sub.language not in cache:
                cache[sub.language] = self.words(alert, sub.language)
            body = message_item(OutboundMessage(cache[sub.language], lang=sub.language,
                                                flow="alerts", step=alert.kind))
        return {**body, "alert": alert.id, "resident": sub.resident, "areas": list(alert.areas)}

    # ---- who gets what ----

    def _in_window(self, sub: Subscriber, now: dt.datetime) -> bool:
        last = sub.last_inbound_at
        return last is not None and now - last < WINDOW - WINDOW_SPARE

    @staticmethod
    def _area_of(alert: Alert, sub: Subscriber) -> tuple[str, int]:
        for place, code in enumerate(alert.areas):
            if code in sub.areas:
                return code, place
        return alert.areas[0], len(alert.areas)

    def _addresses(self, connection: Connection, residents: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        if not residents:
            return found
        for resident, sealed in connection.execute(sa.select(
                addresses.c.resident, addresses.c.sealed).where(
                addresses.c.resident.in_(residents), addresses.c.purpose == ALERTS_PURPOSE)):
            try:
                found[resident] = self.addresses.decrypt(sealed.encode()).decode()
            except InvalidToken:
                continue
        return found

    # ---- plan, before approval ----

    def plan(self, alert_id: int) -> Plan:
        alert = self.alerts.get(alert_id)
        now = dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)
        by_channel: dict[str, int] = {}
        total = templates = 0
        languages: set[str] = set()
        needing: list[str] = []
        for sub in self.subscriptions.for_areas(alert.areas):
            total += 1
            by_channel[sub.channel] = by_channel.get(sub.channel, 0) + 1
            languages.add(sub.language)
            if sub.channel == WHATSAPP and not self._in_window(sub, now):
                templates += 1
                needing.append(sub.resident)
        for lang in sorted(languages):  # a broken template fails here, before anyone approves
            self.words(alert, lang)
        over = 0
        if self.tier is not None and needing:
            with self.db.connect() as connection:
                used = self._used(connection, self.clock())
                held = int(connection.execute(sa.select(sa.func.count()).select_from(
                    deliveries).where(deliveries.c.state == HELD)).scalar() or 0)
            new = sum(1 for r in needing if r not in used)
            over = max(0, new - max(0, self.tier - len(used) - held))
        return Plan(total, by_channel, templates, self.tier, over)

    # ---- start, after approval ----

    def start(self, alert_id: int) -> int:
        """Delivery and outbox rows for every subscriber of the alert's areas: the number
        written now (0 when a previous start already wrote them all)."""
        alert = self.alerts.get(alert_id)
        if alert.state == APPROVED:
            try:
                alert = on_db_thread(self.db, self.alerts.mark, alert_id, SENDING)
            except AlertError as refused:  # expired waiting, or another worker took it
                alert = self.alerts.get(alert_id)
                if alert.state != SENDING:
                    raise BroadcastError(str(refused)) from refused
        if alert.state != SENDING:
            raise BroadcastError(f"alert {alert_id} is {alert.state}: only an approved alert "
                                 "is sent")
        planned = on_db_thread(self.db, self._begin, alert_id)
        written = 0
        if not planned:
            if alert.expired(dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)):
                logger.warning("alert %d expired before it was sent to everyone", alert_id)
            # Each batch in its own turn on the database's threads (on_db_thread). When the
            # tier has room for every WhatsApp subscriber of these areas, held rows go as
            # each batch is written, not after the last (urgency cannot decide who waits).
            early = on_db_thread(self.db, self._fits_tier, alert)
            for batch in _chunks(self.subscriptions.for_areas(alert.areas), self.batch):
                written += on_db_thread(self.db, self._write, alert, batch)
                if early:
                    on_db_thread(self.db, self.release)
                self._analyze()
            on_db_thread(self.db, self._planned, alert_id)
        on_db_thread(self.db, self.release)
        on_db_thread(self.db, self.finish, alert_id)
        return written

    def _begin(self, alert_id: int) -> bool:
        """The broadcast's row, once: whether its delivery rows were all written already."""
        now = self.clock()
        with transaction(self.db) as connection:
            row = connection.execute(sa.select(alert_broadcasts).where(
                alert_broadcasts.c.alert_id == alert_id)).mappings().first()
            if row is None:
                try:
                    with connection.begin_nested():
                        connection.execute(sa.insert(alert_broadcasts).values(
                            alert_id=alert_id, started_at=now))
                except sa.exc.IntegrityError:
                    pass
            return row is not None and row["planned_at"] is not None

    def _fits_tier(self, alert: Alert) -> bool:
        """Whether the tier has room now for every WhatsApp subscriber of the alert's areas
        (those outside the window are at most that many)."""
        if self.tier is None:
            return True
        with self.db.connect() as connection:
            whatsapp = int(connection.execute(sa.select(sa.func.count(
                sa.distinct(subscriptions.c.resident))).where(
                subscriptions.c.channel == WHATSAPP, subscriptions.c.resident.in_(
                    sa.select(subscription_areas.c.resident).where(
                        subscription_areas.c.area.in_(list(alert.areas)))))).scalar() or 0)
            used = len(self._used(connection, self.clock()))
            held = int(connection.execute(sa.select(sa.func.count()).select_from(
                deliveries).where(deliveries.c.state == HELD)).scalar() or 0)
        return whatsapp <= self.tier - used - held

    def _planned(self, alert_id: int) -> None:
        with transaction(self.db) as connection:
            connection.execute(sa.update(alert_broadcasts).where(
                alert_broadcasts.c.alert_id == alert_id,
                alert_broadcasts.c.planned_at.is_(None)).values(planned_at=self.clock()))

    def _analyze(self) -> None:
        """PostgreSQL plans the outbox claim from its statistics: after thousands of new
        rows in a table whose rows were all sent, they say "no row waits" and the claim's
        anti-join becomes a nested loop (9 s per claim at 6,000 rows, measured; 6 ms after
        ANALYZE). Autovacuum comes too late for a broadcast, so the broadcaster refreshes
        them after each batch (milliseconds; blocks neither reads nor writes)."""
        if self.db.dialect.name != "postgresql":
            return
        with self.db.connect() as connection:
            connection.execute(sa.text(f"ANALYZE {outbox_table.name}"))
            connection.commit()

    def _write(self, alert: Alert, batch: list[Subscriber]) -> int:
        """One batch in one transaction; a row another start wrote meanwhile makes the
        unique key refuse it, and the batch is done again without it."""
        for attempt in range(3):
            try:
                return self._write_once(alert, batch)
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        return 0

    def _write_once(self, alert: Alert, batch: list[Subscriber]) -> int:
        now = self.clock()
        moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        cache: dict[str, str] = {}
        has_template: dict[str, bool] = {}
        with transaction(self.db) as connection:
            have = {r for (r,) in connection.execute(sa.select(deliveries.c.resident).where(
                deliveries.c.alert_id == alert.id,
                deliveries.c.resident.in_([s.resident for s in batch])))}
            fresh = [s for s in batch if s.resident not in have]
            found = self._addresses(connection, [s.resident for s in fresh])
            rows: list[dict[str, Any]] = []
            queued: list[tuple[dict[str, Any], Draft]] = []
            for sub in fresh:
                area, place = self._area_of(alert, sub)
                row: dict[str, Any] = {
                    "alert_id": alert.id, "resident": sub.resident, "channel": sub.channel,
                    "language": sub.language, "area": area, "created_at": now,
                    "urgency": URGENCY.get(alert.kind, 0) * 100 + place, "template": False,
                    "outbox_id": None, "reason": None, "queued_at": None, "done_at": None}
                address = found.get(sub.resident)
                if address is None:
                    row.update(state=FAILED, reason="no address kept for alerts", done_at=now)
                elif sub.channel == WHATSAPP and not self._in_window(sub, moment):
                    if sub.language not in has_template:
                        has_template[sub.language] = \
                            self._template_item(alert, sub.language) is not None
                    if not has_template[sub.language]:
                        row.update(state=FAILED, done_at=now, reason=(
                            f"outside WhatsApp's 24-hour window and no approved template for "
                            f"{alert.template} in content/whatsapp/templates.yml"))
                    else:  # every template row waits for the tier's release, most urgent first
                        row.update(state=HELD, template=True)
                else:
                    item = self._item(alert, sub, area, None, cache)
                    row.update(state=QUEUED, queued_at=now)
                    queued.append((row, Draft(sub.channel, f"alert:{sub.resident}", address,
                                              item, BULK)))
                rows.append(row)
            ids = self.outbox.add_many(connection, [draft for _, draft in queued])
            for (row, _), outbox_id in zip(queued, ids):
                row["outbox_id"] = outbox_id
            if rows:
                connection.execute(sa.insert(deliveries), rows)
        return len(rows)

    # ---- the tier: held rows released as the rolling 24 hours allow ----

    def _used(self, connection: Connection, now: float) -> set[str]:
        """WhatsApp residents reached by a template in the last 24 hours (each counts once)."""
        return {r for (r,) in connection.execute(sa.select(deliveries.c.resident).distinct().where(
            deliveries.c.channel == WHATSAPP, deliveries.c.template.is_(True),
            deliveries.c.state.in_((QUEUED, SENT)),
            deliveries.c.queued_at >= now - TIER_PERIOD))}

    def release(self) -> int:
        """Held rows the tier allows now get their outbox rows, most urgent first; held rows
        of an expired alert fail (old news is not sent)."""
        with self._lock, transaction(self.db) as connection:
            if self.db.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _TIER_LOCK})
            now = self.clock()
            moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            held_alerts = [a for (a,) in connection.execute(sa.select(
                deliveries.c.alert_id).distinct().where(deliveries.c.state == HELD))]
            if not held_alerts:
                return 0
            alerts: dict[int, Alert] = {}
            for alert_id in held_alerts:
                alert = self.alerts.get(alert_id, connection)
                if alert.expired(moment):
                    connection.execute(sa.update(deliveries).where(
                        deliveries.c.alert_id == alert_id, deliveries.c.state == HELD).values(
                        state=FAILED, done_at=now,
                        reason="the alert expired before WhatsApp's daily limit allowed it"))
                else:
                    alerts[alert_id] = alert
            used = self._used(connection, now) if self.tier is not None else set()
            room = None if self.tier is None else self.tier - len(used)
            released, after = 0, (-1, -1)
            while alerts and (room is None or room > 0):
                page = connection.execute(sa.select(
                    deliveries.c.id, deliveries.c.alert_id, deliveries.c.resident,
                    deliveries.c.channel, deliveries.c.language, deliveries.c.area,
                    deliveries.c.urgency).where(
                    deliveries.c.state == HELD, deliveries.c.alert_id.in_(list(alerts)),
                    sa.tuple_(deliveries.c.urgency, deliveries.c.id) > after).order_by(
                    deliveries.c.urgency, deliveries.c.id).limit(self.batch)).all()
                if not page:
                    break
                after = (page[-1].urgency, page[-1].id)
                found = self._addresses(connection, [r.resident for r in page])
                taken = []
                for row in page:
                    if room is not None and room <= 0:
                        break
                    taken.append(row)
                    if room is not None and row.resident not in used:
                        room -= 1
                        used.add(row.resident)
                released += self._release_page(connection, taken, alerts, found, now)
        if released >= self.batch:
            self._analyze()
        return released

    def _release_page(self, connection: Connection, page: list[Any], alerts: dict[int, Alert],
                      found: dict[str, str], now: float) -> int:
        """A page of held rows gets its outbox rows (one INSERT on PostgreSQL) and is marked
        queued in one UPDATE; a row whose address went (stop or /delete since the start) is
        opted out instead."""
        gone = [row.id for row in page if row.resident not in found]
        if gone:
            connection.execute(sa.update(deliveries).where(deliveries.c.id.in_(gone)).values(
                state=OPTED_OUT, done_at=now))
        items: dict[tuple[int, str], dict[str, Any] | None] = {}
        going, drafts = [], []
        for row in page:
            address = found.get(row.resident)
            if address is None:
                continue
            alert = alerts[row.alert_id]
            key = (row.alert_id, row.language)
            if key not in items:
                items[key] = self._template_item(alert, row.language)
            held = _Held(row.resident, row.language)
            item = self._item(alert, held, row.area, items[key], {})
            going.append(row.id)
            drafts.append(Draft(row.channel, f"alert:{row.resident}", address, item, BULK))
        if not going:
            return 0
        ids = self.outbox.add_many(connection, drafts)
        connection.execute(sa.update(deliveries).where(
            deliveries.c.id.in_(going), deliveries.c.state == HELD).values(
            state=QUEUED, queued_at=now,
            outbox_id=sa.case(dict(zip(going, ids)), value=deliveries.c.id)))
        return len(going)

    # ---- the end of a send, and resuming ----

    def observe(self, connection: Connection, row_id: int, item: Optional[dict[str, Any]],
                state: str, reason: Optional[str]) -> None:
        """The outbox marked a row (bot.app.outbox.Observer): its delivery row follows, in
        the same transaction; a sent alert is counted (area, language)."""
        if item is not None and "alert" not in item:
            return
        new = _OUTBOX_STATES.get(state)
        if new is None:
            return
        row = connection.execute(sa.select(deliveries.c.id, deliveries.c.area,
                                           deliveries.c.language).where(
            deliveries.c.outbox_id == row_id, deliveries.c.state == QUEUED)).first()
        if row is None:
            return
        changed = connection.execute(sa.update(deliveries).where(
            deliveries.c.id == row.id, deliveries.c.state == QUEUED).values(
            state=new, done_at=self.clock(),
            reason=None if new == SENT else (reason or new)[:200])).rowcount
        if changed and new == SENT and self.counters is not None:
            self.counters.alert(row.area, row.language, connection)

    async def gate(self, rows: Sequence[Claimed]) -> dict[int, Delivery]:
        """Asked by the outbox sender for each claimed batch, before its alert rows are
        paced: skip a row whose resident stopped alerts (or dropped these areas) since it
        was queued. One read for the batch, not one per row."""
        alerts = [row for row in rows if "alert" in row.item]
        if not alerts:
            return {}
        residents = sorted({str(row.item.get("resident") or "") for row in alerts})
        subs = await in_db_thread(self.db, self.subscriptions.get_many, residents)
        verdicts: dict[int, Delivery] = {}
        for row in alerts:
            sub = subs.get(str(row.item.get("resident") or ""))
            areas = set(row.item.get("areas") or ())
            if sub is None or (areas and not areas & set(sub.areas)):
                verdicts[row.id] = Delivery(False, "the resident stopped alerts", skipped=True)
        return verdicts

    def finish(self, alert_id: int) -> bool:
        """Sent once every row is done: the alert is marked sent (True when it is now)."""
        with self.db.connect() as connection:
            planned = connection.execute(sa.select(alert_broadcasts.c.planned_at).where(
                alert_broadcasts.c.alert_id == alert_id)).scalar()
            open_rows = connection.execute(sa.select(deliveries.c.id).where(
                deliveries.c.alert_id == alert_id,
                deliveries.c.state.in_((QUEUED, HELD))).limit(1)).first()
        if planned is None or open_rows is not None:
            return False
        try:
            self.alerts.mark(alert_id, ALERT_SENT)
        except AlertError:  # marked by another worker, or not sending
            pass
        with transaction(self.db) as connection:
            connection.execute(sa.update(alert_broadcasts).where(
                alert_broadcasts.c.alert_id == alert_id,
                alert_broadcasts.c.finished_at.is_(None)).values(finished_at=self.clock()))
        return self.alerts.get(alert_id).state == ALERT_SENT

    def resume(self) -> int:
        """At start and periodically: an approved alert nobody started is started, a start a
        crash cut short goes on, held rows the tier now allows are released, finished
        alerts are marked sent. The rows written."""
        written = 0
        # Approved, never started: the process that approved it stopped before starting it
        # (the console starts it right after approval). An approved alert is meant to go.
        for alert in self.alerts.list(limit=200, states=(APPROVED,)):
            try:
                written += self.start(alert.id)
            except BroadcastError as refused:  # expired while waiting: withdrawn, never sent
                logger.warning("approved alert %d not started: %s", alert.id, refused)
                try:
                    on_db_thread(self.db, self.alerts.withdraw, alert.id, BOT)
                except AlertError:
                    pass  # another worker started or withdrew it meanwhile
        sending = self.alerts.list(limit=200, states=(SENDING,))
        for alert in sending:
            with self.db.connect() as connection:
                planned = connection.execute(sa.select(alert_broadcasts.c.planned_at).where(
                    alert_broadcasts.c.alert_id == alert.id)).scalar()
            if planned is None:
                written += self.start(alert.id)
        written += on_db_thread(self.db, self.release)
        for alert in sending:
            on_db_thread(self.db, self.finish, alert.id)
        return written

    def forget_old(self, keep: float) -> int:
        """Delivery rows of broadcasts finished more than `keep` seconds ago (they name
        residents by their keyed hash; the counts stay in kyr_counts)."""
        with transaction(self.db) as connection:
            old = sa.select(alert_broadcasts.c.alert_id).where(
                alert_broadcasts.c.finished_at < self.clock() - keep)
            return int(connection.execute(sa.delete(deliveries).where(
                deliveries.c.alert_id.in_(old))).rowcount)

    def progress(self, alert_id: int) -> Progress:
        with self.db.connect() as connection:
            counts = {state: int(n) for state, n in connection.execute(sa.select(
                deliveries.c.state, sa.func.count()).where(
                deliveries.c.alert_id == alert_id).group_by(deliveries.c.state))}
        return Progress(sum(counts.values()), *(counts.get(s, 0) for s in STATES))


def templates_file(content_dir: Path) -> Path:
    return content_dir / "whatsapp" / "templates.yml"


def for_services(services: "Services", outbox: Outbox) -> Broadcaster:
    """The broadcaster of a running bot, on its outbox (bot.web.app builds one per worker)."""
    settings = services.settings
    return Broadcaster(services.db, settings.secret_key(), outbox, services.alerts,
                       services.subscriptions, services.renderer, services.counters,
                       load_whatsapp_templates(templates_file(settings.content_dir)),
                       tier=settings.whatsapp_tier)


@dataclass(frozen=True)
class _Held:
    """A held row's subscriber, as far as its words need."""

    resident: str
    language: str
