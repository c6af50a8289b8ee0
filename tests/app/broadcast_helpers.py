"""What the broadcast tests and the broadcast bench share: a clean database, subscribers
with sealed addresses, an approved alert, and words rendered the way the renderer does."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.broadcast import ALERTS_PURPOSE, Broadcaster
from bot.app.outbox import Deliver, Outbox, Sender
from bot.app.pacing import Pacer
from bot.core.render import fill
from bot.network.alerts import ALERT, Alert, AlertService
from bot.network.reports import CONFIRMED, ReportService
from bot.network.subscriptions import Subscriptions
from bot.storage.addresses import AddressBook
from bot.storage.db import utc_now
from bot.storage.schema import (addresses, alert_broadcasts, alert_deliveries, alert_events,
                                alerts, counts, outbox, report_events, reports,
                                subscription_areas, subscriptions)

SECRET = b"broadcast-test-secret"
TEMPLATE = "alerts.template_agents"
LANGUAGES = ("en", "es", "zh_Hans", "ar", "ht", "pl", "uk", "fr")  # eight, as the bench
WORDS = {
    "en": "Immigration agents reported in {area} at {time}. This alert ends at {expires}.",
    "es": "Agentes de inmigración reportados en {area} a las {time}. Termina a las {expires}.",
}
STAFF_NOTE = "Written by staff: {text}"


class Words:
    """Stands in for bot.core.render.Renderer: the template in the resident's language if
    translated, else English, filled the same way (bot.core.render.fill)."""

    def __init__(self) -> None:
        self.content = SimpleNamespace(texts={TEMPLATE: None, "alerts.staff_note": None})
        self.dialogue = SimpleNamespace(languages=("en",))  # what a channel's start asks

    def text(self, lang: str, key: str, isolated: bool = True, **extra: str) -> str:
        if key == "alerts.staff_note":
            return fill(STAFF_NOTE, extra)
        if key != TEMPLATE:  # the channel's own labels ("ui.choose"): not under test here
            return key
        return fill(WORDS.get(lang, WORDS["en"]), extra)


def clean(engine: Engine) -> None:
    """The tests' own database: nothing another test left may be resumed here."""
    with engine.begin() as connection:
        for table in (alert_deliveries, alert_broadcasts, outbox, alert_events, alerts,
                      report_events, reports, subscription_areas, subscriptions, counts):
            connection.execute(sa.delete(table))
        connection.execute(sa.delete(addresses).where(addresses.c.purpose == ALERTS_PURPOSE))


def approved_alert(engine: Engine, areas: tuple[str, ...] = ("c31", "c30"),
                   free_text: dict[str, str] | None = None, hours: float = 4,
                   kind: str = ALERT) -> Alert:
    report_service, alert_service = ReportService(engine, SECRET), AlertService(engine, SECRET)
    report = report_service.file(area=areas[0], what=("agents",), when="now", ongoing=True,
                                 language="es", channel="whatsapp")
    report_service.assign(report.id, "dora", "vic")
    report_service.record(report.id, "vic", CONFIRMED)
    alert = alert_service.draft("ana", kind=kind, areas=areas, template=TEMPLATE,
                                params={"what": "agents", "time": "14:30"},
                                expires_at=utc_now() + dt.timedelta(hours=hours),
                                report_id=report.id, free_text=free_text)
    return alert_service.approve(alert.id, "staff:ben", can_dispatch=True)


def subscribe(engine: Engine, resident: str, channel: str, language: str,
              areas: tuple[str, ...], address: str, last_wrote_hours_ago: float = 0.0) -> None:
    Subscriptions(engine).subscribe(resident, channel, language, areas, "button", "v1")
    if last_wrote_hours_ago:
        Subscriptions(engine).seen(resident, utc_now() - dt.timedelta(hours=last_wrote_hours_ago))
    AddressBook(engine, SECRET).remember(resident, address, ALERTS_PURPOSE)


def text_of(item: dict[str, Any]) -> str:
    return str(item["message"]["text"])


async def send_all(broadcaster: Broadcaster, box: Outbox, alert_id: int, channel: str,
                   deliver: Deliver, pacer: Pacer | None = None) -> dict[str, int]:
    """Run one real Sender (with the broadcaster's gate) until the alert has no queued row
    (at most 6 s), stop it (its last sends marked), and return its counters."""
    worker = Sender(box, channel, deliver, pacer or Pacer.for_channel(channel, rate=1000.0),
                    gate=broadcaster.gate, idle=0.01)
    task = asyncio.create_task(worker.run())
    for _ in range(300):
        if broadcaster.progress(alert_id).queued == 0:
            break
        await asyncio.sleep(0.02)
    await worker.stop()
    task.cancel()
    return worker.counters
