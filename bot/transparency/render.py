"""The report in each format: HTML (self-contained), CSV, JSON and PDF, in English or Spanish.

Every renderer reads the protected report data only (bot.transparency.report.build), so no
format can show what another hides.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.settings import PROJECT_ROOT
from bot.transparency.i18n import N_, Translator
from bot.transparency.labels import HIDDEN_NOTE, NOTES, TITLES, TOTAL, row_label, value_label

HERE = Path(__file__).parent
HIDDEN = "–"  # how a hidden count is shown (an en dash), explained on every page
FORMATS = ("html", "csv", "json", "pdf")

templates = Environment(loader=FileSystemLoader(HERE / "templates"), extensions=["jinja2.ext.i18n"],
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def holdings(retention_days: int, transcript_hours: int) -> dict[str, Any]:
    return {"retention_days": retention_days, "transcript_hours": transcript_hours}


HOLDINGS = (
    (N_("Where a conversation is (the step and the language chosen), never what was written"),
     N_("Deleted after {days} days without a message")),
    (N_("What a resident writes while waiting for a person, and staff replies (encrypted)"),
     N_("Deleted {hours} hours after the request to a person ends")),
    (N_("Requests to a person: topic, language, times and how it ended"),
     N_("Kept for wait estimates; who it was is removed {hours} hours after it ends")),
    (N_("A WhatsApp number, encrypted, so that staff replies reach the resident"),
     N_("Only while a request to a person needs it")),
    (N_("Messages that could not be delivered, for staff to see why"),
     N_("Deleted after {days} days")),
    (N_("Ids of platform messages already answered (hashed), so nothing is answered twice"),
     N_("Deleted after 3 days")),
    (N_("The daily counts this report is made of: no names, numbers, messages or ids"),
     N_("Kept, so that reports can be compared over the years")),
)
LEGAL_KINDS = {"subpoena": N_("Subpoena"), "warrant": N_("Search warrant"),
               "court_order": N_("Court order"), "administrative": N_("Administrative request"),
               "informal": N_("Informal request"), "other": N_("Other")}
LEGAL_OUTCOMES = {"pending": N_("Pending"), "refused": N_("Refused"), "challenged": N_("Challenged"),
                  "no_data": N_("No data held"), "data_produced": N_("Data produced"),
                  "withdrawn": N_("Withdrawn")}


def _cell(value: int | None) -> str:
    return HIDDEN if value is None else str(value)


def view(data: dict[str, Any], lang: str, home: Path = PROJECT_ROOT,
         with_charts: bool = True) -> dict[str, Any]:
    """Everything a template needs, in one language."""
    _ = Translator(lang, home)
    tables = []
    for t in data["tables"]:
        columns = [value_label(_, t["dimension"], col) for col in t["columns"]]
        rows = [{"label": row_label(_, t["rows_axis"], label), "cells": [_cell(v) for v in cells],
                 "total": _cell(total)}
                for label, cells, total in zip(t["rows"], t["cells"], t["row_totals"])]
        totals = None if data["running"] else {
            "cells": [_cell(v) for v in t["column_totals"]], "total": _cell(t["total"])}
        tables.append({"id": t["id"], "title": _.of(TITLES[t["id"]]), "note": _.of(NOTES[t["id"]]),
                       "columns": columns, "rows": rows, "totals": totals,
                       "hidden": t["suppressed_primary"] + t["suppressed_secondary"]})
    days = data["holdings"].get("retention_days", 30)
    hours = data["holdings"].get("transcript_hours", 72)
    held = [(_.of(what), _.of(how, days=days, hours=hours)) for what, how in HOLDINGS]
    legal = None
    if data.get("legal_requests") is not None:
        found = data["legal_requests"]
        legal = {"received": found["received"], "answered": found["answered"],
                 "rows": [(_.of(LEGAL_KINDS.get(kind, kind)),
                           [(_.of(LEGAL_OUTCOMES.get(o, o)), n) for o, n in sorted(outcomes.items())])
                          for kind, outcomes in sorted(found["by_kind"].items())]}
    figures: list[str] = []
    if with_charts:  # matplotlib loads on the first chart, not when the web app starts
        from bot.transparency import charts

        figures = [charts.svg(f) for _name, f in charts.figures(data, _)]
    period = data["period"]
    return {
        "_": _, "lang": _.lang, "data": data, "tables": tables, "holdings": held, "legal": legal,
        "charts": figures, "period_label": period["label"], "start": period["start"],
        "last_day": period["last_day"], "threshold": data["threshold"], "hidden": HIDDEN,
        "total_label": _.of(TOTAL), "noise": data.get("noise"),
        "hidden_note": _.of(HIDDEN_NOTE, n=data["threshold"]),
    }


def html(data: dict[str, Any], lang: str = "en", home: Path = PROJECT_ROOT) -> str:
    return templates.get_template("report.html").render(**view(data, lang, home))


def csv_text(data: dict[str, Any], lang: str = "en", home: Path = PROJECT_ROOT) -> str:
    """One line per published count: table, row, column, count (empty when hidden)."""
    _ = Translator(lang, home)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "table", "title", "row", "column", "column_label", "count", "hidden"])
    label = data["period"]["label"]
    for t in data["tables"]:
        title = _.of(TITLES[t["id"]])
        grid = [list(cells) + [total] for cells, total in zip(t["cells"], t["row_totals"])]
        rows = list(t["rows"])
        if not data["running"]:
            grid.append(list(t["column_totals"]) + [t["total"]])
            rows.append("total")
        columns = list(t["columns"]) + ["total"]
        for row, values in zip(rows, grid):
            for column, value in zip(columns, values):
                column_label = _.of(TOTAL) if column == "total" else value_label(_, t["dimension"], column)
                writer.writerow([label, t["id"], title, row, column, column_label,
                                 "" if value is None else value, "1" if value is None else "0"])
    return out.getvalue()


def json_text(data: dict[str, Any], lang: str = "en", home: Path = PROJECT_ROOT) -> str:
    _ = Translator(lang, home)
    titled = dict(data, language=_.lang,
                  titles={t["id"]: _.of(TITLES[t["id"]]) for t in data["tables"]},
                  hidden_means=_.of(HIDDEN_NOTE, n=data["threshold"]))
    return json.dumps(titled, ensure_ascii=False, indent=1) + "\n"


def pdf_bytes(data: dict[str, Any], lang: str = "en", home: Path = PROJECT_ROOT) -> bytes:
    """A cover page, one page per chart, the tables, what is held and the legal requests."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    from bot.transparency import charts

    context = view(data, lang, home, with_charts=False)
    _ = context["_"]
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": _("Transparency report"), "Creator": "kyr report",
                                    "CreationDate": None}) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))  # A4
        lines = [(_("Transparency report"), 18, "bold"),
                 (_("Know Your Rights bot, {period}", period=context["period_label"]), 12, "normal"),
                 (_("From {start} to {end}", start=context["start"], end=context["last_day"]), 10,
                  "normal"), ("", 10, "normal")]
        lines += [(text, 9, "normal") for text in _wrap(_.of(INTRO, n=data["threshold"]), 95)]
        if context["noise"]:
            lines += [(text, 9, "normal") for text in _wrap(_.of(NOISE, eps=context["noise"]
                                                             ["epsilon_per_event"]), 95)]
        y = 0.92
        for text, size, weight in lines:
            page.text(0.08, y, text, fontsize=size, fontweight=weight, va="top")
            y -= 0.012 + size / 600
        pdf.savefig(page)
        plt.close(page)
        for _name, figure in charts.figures(data, _):
            pdf.savefig(figure)
            plt.close(figure)
        for t in context["tables"]:
            pdf.savefig(_table_page(t, context))
        page = plt.figure(figsize=(8.27, 11.69))
        y = 0.92
        page.text(0.08, y, _("What the service holds, and for how long"), fontsize=13,
                  fontweight="bold", va="top")
        y -= 0.04
        for what, how in context["holdings"]:
            for text in _wrap(f"• {what}: {how}", 95):
                page.text(0.08, y, text, fontsize=9, va="top")
                y -= 0.02
        y -= 0.03
        page.text(0.08, y, _("Legal requests for residents' data"), fontsize=13,
                  fontweight="bold", va="top")
        y -= 0.04
        legal = context["legal"]
        if legal is None or not legal["received"]:
            page.text(0.08, y, _("None received in this period."), fontsize=9, va="top")
        else:
            page.text(0.08, y, _("Received: {received}. Answered: {answered}.", **{
                "received": legal["received"], "answered": legal["answered"]}), fontsize=9, va="top")
            for kind, outcomes in legal["rows"]:
                y -= 0.02
                page.text(0.08, y, f"• {kind}: " + ", ".join(f"{o} {n}" for o, n in outcomes),
                          fontsize=9, va="top")
        pdf.savefig(page)
        plt.close(page)
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _table_page(t: dict[str, Any], context: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    columns = t["columns"] + [context["total_label"]]
    body = [[r["label"]] + r["cells"] + [r["total"]] for r in t["rows"]]
    if t["totals"] is not None:
        body.append([context["total_label"]] + t["totals"]["cells"] + [t["totals"]["total"]])
    figure = plt.figure(figsize=(11.69, 8.27))  # A4 landscape
    figure.text(0.04, 0.95, t["title"], fontsize=12, fontweight="bold", va="top")
    figure.text(0.04, 0.91, t["note"], fontsize=8, va="top")
    axes = figure.add_axes((0.04, 0.05, 0.92, 0.82))
    axes.axis("off")
    if body:
        shown = axes.table(cellText=body, colLabels=[""] + columns, loc="upper left",
                           cellLoc="right")
        shown.auto_set_font_size(False)
        shown.set_fontsize(6 if len(columns) > 8 else 8)
    figure.text(0.04, 0.02, context["hidden_note"], fontsize=7)
    return figure


INTRO = N_("These numbers are counted at the moment something happens (a conversation starts, a "
           "person takes a request) and hold no names, phone numbers, messages or times finer "
           "than a day. Counts from 1 to {n} minus one are hidden (–), and so are a few larger "
           "ones, so that no hidden count can be worked out from the others or the totals.")
NOISE = N_("Every count also has random noise added (discrete Laplace, OpenDP), so that no "
           "single event changes what is published by much: epsilon = {eps} per event.")
RUNNING = N_("Quarter in progress: complete weeks up to {day}, at least a week old, without "
             "totals. The numbers become final when the quarter is published.")


def render(data: dict[str, Any], fmt: str, lang: str = "en", home: Path = PROJECT_ROOT) -> bytes:
    if fmt == "html":
        return html(data, lang, home).encode()
    if fmt == "csv":
        return csv_text(data, lang, home).encode()
    if fmt == "json":
        return json_text(data, lang, home).encode()
    if fmt == "pdf":
        return pdf_bytes(data, lang, home)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
