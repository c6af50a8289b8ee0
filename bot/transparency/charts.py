"""The report's charts, drawn by matplotlib (Agg, no display, no network).

Charts are drawn only from the protected tables, never from the counters: a hidden count is
a gap in a line or a missing bar, labelled as hidden, never a number. SVG text is drawn
as paths, so the page needs no font from anywhere.
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402

from bot.transparency.i18n import Translator  # noqa: E402
from bot.transparency.labels import CHART_TITLES as TITLES, row_label, value_label  # noqa: E402

plt.rcParams.update({"svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 9,
                     "svg.hashsalt": "kyr-report"})  # the same SVG for the same numbers
COLOURS = ("#1b5e9e", "#c2571a", "#2e7d32", "#7b3f98", "#b0881a", "#00838f", "#6d4c41",
           "#ad1457", "#546e7a", "#9e9d24")


def table(data: dict[str, Any], table_id: str) -> dict[str, Any] | None:
    return next((t for t in data["tables"] if t["id"] == table_id), None)


def column_values(t: dict[str, Any]) -> list[float]:
    """Per column: the published total, else the sum of shown cells if every one is shown
    (running quarters publish no totals), else NaN (hidden)."""
    out = []
    for j, total in enumerate(t["column_totals"]):
        if total is not None:
            out.append(float(total))
            continue
        column = [row[j] for row in t["cells"]]
        out.append(float(sum(column)) if all(v is not None for v in column) else math.nan)
    return out


def _figure(title: str, wide: bool = False) -> tuple[Figure, Any]:
    figure, axes = plt.subplots(figsize=(8.0 if wide else 6.4, 3.6))
    axes.set_title(title, loc="left", fontsize=10, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _empty(figure: Figure) -> None:
    """Nothing shown in this chart (no counts, or all hidden): no chart; the table says so."""
    plt.close(figure)


def trend(data: dict[str, Any], _: Translator) -> Figure | None:
    """Weekly trend of the most opened topics (up to 6; the rest are in the table)."""
    t = table(data, "topics")
    figure, axes = _figure(_.of(TITLES["topics"]), wide=True)
    if t is None or not t["rows"]:
        _empty(figure)
        return None
    shown_sums = [sum(row[j] or 0 for row in t["cells"]) for j in range(len(t["columns"]))]
    top = sorted(range(len(t["columns"])), key=lambda j: -shown_sums[j])[:6]
    top = [j for j in top if shown_sums[j] > 0]
    x = list(range(len(t["rows"])))
    for k, j in enumerate(top):
        y = [math.nan if row[j] is None else row[j] for row in t["cells"]]
        axes.plot(x, y, marker="o", markersize=3, color=COLOURS[k % len(COLOURS)],
                  label=value_label(_, "topic", t["columns"][j]))
    if not top:
        _empty(figure)
        return None
    axes.set_xticks(x, [r[5:] for r in t["rows"]], rotation=45, ha="right", fontsize=7)
    axes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    return figure


def bars(data: dict[str, Any], _: Translator, table_id: str) -> Figure | None:
    """One bar per column: its total over the period (hidden totals left out, and said)."""
    t = table(data, table_id)
    figure, axes = _figure(_.of(TITLES[table_id]))
    values = column_values(t) if t else []
    if t is None or not any(v > 0 for v in values if not math.isnan(v)):
        _empty(figure)
        return None
    labels = [value_label(_, t["dimension"], col) for col in t["columns"]]
    heights = [0.0 if math.isnan(v) else v for v in values]
    bars_ = axes.barh(labels, heights, color=COLOURS[0])
    for bar, value in zip(bars_, values):
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  " –" if math.isnan(value) else f" {int(value)}", va="center", fontsize=7)
    axes.invert_yaxis()
    figure.tight_layout()
    return figure


def by_area(data: dict[str, Any], _: Translator, table_id: str) -> Figure | None:
    """Stacked bars per community area (reports by verification, alerts)."""
    t = table(data, table_id)
    figure, axes = _figure(_.of(TITLES[table_id]))
    if t is None or not any(v for row in t["cells"] for v in row):
        _empty(figure)
        return None
    areas = [row_label(_, "area", r) for r in t["rows"]]
    left = [0.0] * len(areas)
    for j, column in enumerate(t["columns"]):
        widths = [float(row[j] or 0) for row in t["cells"]]
        axes.barh(areas, widths, left=left, color=COLOURS[j % len(COLOURS)],
                  label=value_label(_, t["dimension"], column))
        left = [a + b for a, b in zip(left, widths)]
    if len(t["columns"]) > 1:
        axes.legend(fontsize=7, frameon=False)
    axes.invert_yaxis()
    figure.tight_layout()
    return figure


CHARTS: tuple[tuple[str, Callable[[dict[str, Any], Translator], Figure | None]], ...] = (
    ("topics", trend),
    ("conversations", lambda d, _: bars(d, _, "conversations")),
    ("waits", lambda d, _: bars(d, _, "waits")),
    ("reports", lambda d, _: by_area(d, _, "reports")),
    ("alerts", lambda d, _: by_area(d, _, "alerts")),
)


def figures(data: dict[str, Any], _: Translator) -> list[tuple[str, Figure]]:
    """The charts that apply (area charts only for whole quarters)."""
    present = {t["id"] for t in data["tables"]}
    drawn = [(name, draw(data, _)) for name, draw in CHARTS if name in present]
    return [(name, figure) for name, figure in drawn if figure is not None]


def svg(figure: Figure) -> str:
    """Inline SVG (no XML prolog, no date), and the figure closed."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]
