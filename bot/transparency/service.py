"""The transparency report as a service: preview, publish, and the public running quarter.

One place decides what a report contains, for the CLI, the dashboard and the console, so
what an admin previews is exactly what gets published.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Optional

from sqlalchemy.engine import Engine

from bot.app.counters import Counters, community_day
from bot.core.dialogue import HELP_FLOW, LANGUAGE_FLOW, MENU_FLOW
from bot.settings import Settings
from bot.storage.db import utc_now
from bot.transparency import report
from bot.transparency.disclosure import THRESHOLD
from bot.transparency.render import holdings
from bot.transparency.store import PublishedReport, TransparencyStore

logger = logging.getLogger(__name__)
RUNNING_CACHE_SECONDS = 600.0


class PublishError(ValueError):
    """A quarter that cannot be published (yet); the message says why."""


def topics_of(settings: Settings) -> list[str]:
    """The topics the counters may hold: every flow an intent opens (as the engine counts)."""
    ids = sorted(p.stem for p in settings.flows_dir.glob("*.yml"))
    return [i for i in ids if i not in (MENU_FLOW, HELP_FLOW, LANGUAGE_FLOW)]


class Transparency:
    def __init__(self, settings: Settings, engine: Engine, threshold: int = THRESHOLD) -> None:
        self.settings = settings
        self.counters = Counters(engine)
        self.store = TransparencyStore(engine)
        self.threshold = threshold
        self._running: dict[dt.date, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def build(self, period: report.Period, noise_scale: Optional[float] = None,
              running_until: Optional[dt.date] = None, threshold: Optional[int] = None) -> dict[str, Any]:
        legal = None
        if running_until is None:
            legal = report.legal_summary(self.store.requests(period.start, period.end))
        return report.build(self.counters, period, topics_of(self.settings), self.settings.languages,
                            threshold=threshold or self.threshold, noise_scale=noise_scale,
                            running_until=running_until, legal=legal,
                            holdings=holdings(self.settings.retention_days,
                                              self.settings.transcript_hours))

    def publish(self, quarter: str, by: str, noise_scale: Optional[float] = None,
                replace: bool = False, now: Optional[dt.datetime] = None) -> dict[str, Any]:
        """Freeze a quarter that has ended: the public page serves exactly these numbers."""
        period = report.quarter(quarter)
        today = community_day(now or utc_now())
        if today < period.end:
            raise PublishError(f"{period.label} ends on {period.last_day.isoformat()}: it can be "
                               "published from the day after")
        data = self.build(period, noise_scale)
        try:
            self.store.publish(period.label, data, by, replace=replace)
        except ValueError as exc:
            raise PublishError(str(exc)) from None
        logger.warning("transparency report %s published by an admin", period.label)
        return data

    def latest(self) -> PublishedReport | None:
        quarters = self.store.quarters()
        return self.store.published(quarters[0]) if quarters else None

    def running(self, now: Optional[dt.datetime] = None) -> dict[str, Any]:
        """The current quarter so far, complete weeks at least a week old (cached)."""
        cutoff = report.running_cutoff(now)
        period = report.quarter_of(cutoff - dt.timedelta(days=1))
        with self._lock:
            cached = self._running.get(cutoff)
            if cached is not None and time.monotonic() - cached[0] < RUNNING_CACHE_SECONDS:
                return cached[1]
        data = self.build(period, running_until=cutoff)
        with self._lock:
            self._running = {cutoff: (time.monotonic(), data)}
        return data
