"""The transparency report's numbers: counters over a period, protected before anyone sees them.

Rules that keep the published numbers from being combined against the people in them:

- Each counter kind is published in exactly one table, along one dimension, so no two
  tables share a sum that could be subtracted.
- Time tables have one row per 7-day block counted from the quarter's first day (the last
  block takes the remainder), with fixed columns (the vocabulary, never "what was seen"),
  and each row is protected on its own (`protect_by_row`). The running quarter on the
  dashboard adds only complete blocks ending at least a week ago, so every snapshot shows
  the same rows as the one before plus new ones: differencing two snapshots yields
  nothing that is not shown. Column totals are added only in the whole quarter's report,
  hiding totals only.
- Area tables (reports, alerts) are published for whole quarters only, sparse areas
  merged into "other".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from bot.app import counters as c
from bot.app.counters import Counters, community_day
from bot.storage.db import utc_now
from bot.transparency.areas import AREAS
from bot.transparency.disclosure import (THRESHOLD, Table, add_noise, epsilon, merge_sparse,
                                         protect, protect_by_row)

DELAY = dt.timedelta(days=7)  # the dashboard shows nothing closer to now than this
QUARTER = re.compile(r"(\d{4})[Qq]([1-4])")


class PeriodError(ValueError):
    """A period the report cannot cover; the message says what to type instead."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # exclusive
    label: str

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def blocks(self) -> list[tuple[dt.date, dt.date]]:
        """7-day blocks from the start; the last one takes the remainder (6 to 13 days)."""
        days = (self.end - self.start).days
        count = max(1, days // 7)
        edges = [self.start + dt.timedelta(days=7 * k) for k in range(count)] + [self.end]
        return list(zip(edges[:-1], edges[1:]))


def quarter(text: str) -> Period:
    found = QUARTER.fullmatch(text.strip())
    if not found:
        raise PeriodError(f"not a quarter: {text!r} (write it like 2026Q4)")
    year, number = int(found.group(1)), int(found.group(2))
    start = dt.date(year, 3 * number - 2, 1)
    end = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return Period(start, end, f"{year}Q{number}")


def quarter_of(day: dt.date) -> Period:
    return quarter(f"{day.year}Q{(day.month - 1) // 3 + 1}")


def between(start: str, last: str) -> Period:
    """--from DATE --to DATE, both days included."""
    try:
        first, final = dt.date.fromisoformat(start), dt.date.fromisoformat(last)
    except ValueError as exc:
        raise PeriodError(f"dates are written YYYY-MM-DD ({exc})") from None
    if final < first:
        raise PeriodError("--to is before --from")
    if (final - first).days > 366:
        raise PeriodError("a report covers at most a year")
    return Period(first, final + dt.timedelta(days=1), f"{first.isoformat()}/{final.isoformat()}")


@dataclass(frozen=True)
class Spec:
    id: str
    kind: str
    dimension: str  # the column dimension; "" for one column of totals
    rows: str  # "block" or "area"


SPECS: tuple[Spec, ...] = (
    Spec("topics", c.TOPICS, "topic", "block"),
    Spec("conversations", c.CONVERSATIONS, "language", "block"),
    Spec("tickets", c.TICKETS_OPENED, "topic", "block"),
    Spec("urgent", c.TICKETS_URGENT, "how", "block"),
    Spec("waits", c.TICKETS_CLAIMED, "wait", "block"),
    Spec("dispositions", c.TICKETS_CLOSED, "disposition", "block"),
    Spec("deletions", c.DELETIONS, "channel", "block"),
    Spec("deliveries_failed", c.DELIVERIES_FAILED, "channel", "block"),
    Spec("reports", c.REPORTS, "outcome", "area"),
    Spec("alerts", c.ALERTS, "", "area"),
)
assert len({s.kind for s in SPECS}) == len(SPECS)  # one table per kind: nothing to subtract

CHANNELS = ("telegram", "whatsapp", "console")


def vocabulary(topics: Sequence[str], languages: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The fixed columns of each dimension; values outside it are counted as "other"."""
    return {
        "topic": tuple(sorted(topics)) + (c.OTHER,),
        "language": tuple(c.slug(lang) for lang in languages) + (c.OTHER,),
        "channel": CHANNELS + (c.OTHER,),
        "how": ("opened", "escalated"),
        "wait": tuple(name for name, _ in c.WAIT_BUCKETS) + ("after_hours",),
        "disposition": tuple(dict.fromkeys(c.DISPOSITIONS.values())) + (c.OTHER,),
        "outcome": c.REPORT_OUTCOMES,
        "": ("count",),
    }


def _block_table(spec: Spec, rows: list[c.Count], blocks: list[tuple[dt.date, dt.date]],
                 columns: tuple[str, ...]) -> Table:
    cells: dict[tuple[str, str], int] = {}
    labels = [start.isoformat() for start, _ in blocks]
    for row in rows:
        if row.kind != spec.kind or row.dimension != spec.dimension:
            continue
        label = next((start.isoformat() for start, end in blocks if start <= row.day < end), None)
        if label is None:
            continue
        column = row.value if row.value in columns else (c.OTHER if c.OTHER in columns else None)
        if column is None:
            continue
        cells[(label, column)] = cells.get((label, column), 0) + row.n
    return Table.from_counts(cells, labels, columns)


def _area_table(spec: Spec, rows: list[c.Count], columns: tuple[str, ...],
                threshold: int) -> Table:
    by_area: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.kind != spec.kind or row.dimension != spec.dimension or not row.area:
            continue
        column = "count" if spec.dimension == "" else row.value
        if column not in columns:
            continue
        # Only Chicago's community areas are published by name; anything else is "other".
        area = by_area.setdefault(row.area if row.area in AREAS else c.OTHER, {})
        area[column] = area.get(column, 0) + row.n
    merged = merge_sparse(by_area, threshold)
    names = sorted((a for a in merged if a != c.OTHER), key=lambda a: (-sum(merged[a].values()), a))
    if c.OTHER in merged:
        names.append(c.OTHER)
    cells = {(a, col): n for a in names for col, n in merged[a].items()}
    return Table.from_counts(cells, names, columns)


def build(counters: Counters, period: Period, topics: Sequence[str], languages: Sequence[str],
          *, threshold: int = THRESHOLD, noise_scale: Optional[float] = None,
          running_until: Optional[dt.date] = None, holdings: Optional[dict[str, Any]] = None,
          legal: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The protected report data (JSON-ready, no words: the renderers translate).

    `running_until`: a quarter in progress, shown only in complete blocks ending on or
    before this day, without totals or area tables (see the module's docstring)."""
    blocks = period.blocks()
    if running_until is not None:
        blocks = [(s, e) for s, e in blocks if e <= running_until]
    rows = counters.rows(period.start, blocks[-1][1] if blocks else period.start) \
        if running_until is not None else counters.rows(period.start, period.end)
    vocab = vocabulary(topics, languages)
    tables: list[dict[str, Any]] = []
    for spec in SPECS:
        if spec.rows == "area" and running_until is not None:
            continue
        columns = vocab[spec.dimension]
        if spec.rows == "block":
            table = _block_table(spec, rows, blocks, columns)
            if noise_scale:
                table = add_noise(table, noise_scale)
            published = protect_by_row(table, threshold, with_totals=running_until is None,
                                       noise_scale=noise_scale)
        else:
            table = _area_table(spec, rows, columns, threshold)
            if noise_scale:
                table = add_noise(table, noise_scale)
            published = protect(table, threshold, noise_scale=noise_scale)
        tables.append({"id": spec.id, "kind": spec.kind, "dimension": spec.dimension,
                       "rows_axis": spec.rows, **published.as_dict()})
    noise = None
    if noise_scale:
        # One event adds one to one cell of one table: each table and the whole report are
        # epsilon-DP per event (parallel composition across kinds, one table per kind).
        noise = {"mechanism": "discrete Laplace (OpenDP)", "scale": noise_scale,
                 "epsilon_per_event": epsilon(noise_scale)}
    return {
        "period": {"start": period.start.isoformat(), "last_day": period.last_day.isoformat(),
                   "label": period.label},
        "complete_through": ((blocks[-1][1] - dt.timedelta(days=1)).isoformat() if blocks else None)
        if running_until is not None else None,
        "running": running_until is not None,
        "threshold": threshold,
        "noise": noise,
        "tables": tables,
        "holdings": holdings or {},
        "legal_requests": legal,
        "generated_at": utc_now().replace(microsecond=0).isoformat(),
    }


def running_cutoff(now: Optional[dt.datetime] = None) -> dt.date:
    """The first day the dashboard may not show yet: a week before today (Chicago)."""
    return community_day(now or utc_now()) - DELAY


def legal_summary(requests: Iterable[Any]) -> dict[str, Any]:
    """Legal requests are about the service, not residents: counted exactly, by kind."""
    by_kind: dict[str, dict[str, int]] = {}
    received = answered = 0
    for request in requests:
        received += 1
        answered += request.answered_on is not None
        outcomes = by_kind.setdefault(request.kind, {})
        outcomes[request.outcome] = outcomes.get(request.outcome, 0) + 1
    return {"received": received, "answered": answered, "by_kind": by_kind}
