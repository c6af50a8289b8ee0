"""The report: periods, protected tables, every format, both languages, the catalog."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from itertools import product

import pypdf
import pytest

from bot.app import counters as c
from bot.app.counters import Counters
from bot.settings import PROJECT_ROOT, Settings
from bot.transparency import report
from bot.transparency.disclosure import feasible_range
from bot.transparency.i18n import extract, po_path, pot_path
from bot.transparency.render import render
from bot.transparency.service import Transparency, topics_of
from tests.transparency.conftest import seed

Q3 = report.quarter("2026Q3")


def test_periods() -> None:
    q4 = report.quarter("2026q4")
    assert (q4.start, q4.end, q4.label) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1), "2026Q4")
    blocks = q4.blocks()
    assert len(blocks) == 13 and blocks[-1] == (dt.date(2026, 12, 24), dt.date(2027, 1, 1))
    assert all((e - s).days == 7 for s, e in blocks[:-1])
    assert report.quarter_of(dt.date(2026, 2, 28)).label == "2026Q1"
    assert report.between("2026-10-01", "2026-10-01").blocks() == [
        (dt.date(2026, 10, 1), dt.date(2026, 10, 2))]
    for bad in ("2026Q5", "Q4", "2026-Q4", ""):
        with pytest.raises(report.PeriodError):
            report.quarter(bad)
    with pytest.raises(report.PeriodError):
        report.between("2026-10-02", "2026-10-01")
    with pytest.raises(report.PeriodError):
        report.between("2026-13-01", "2026-10-01")


def truth(counters: Counters, spec_id: str, period: report.Period) -> dict[tuple[str, str], int]:
    spec = next(s for s in report.SPECS if s.id == spec_id)
    out: dict[tuple[str, str], int] = {}
    for row in counters.rows(period.start, period.end, [spec.kind]):
        if row.dimension != spec.dimension:
            continue
        label = next(s.isoformat() for s, e in period.blocks() if s <= row.day < e)
        out[(label, row.value)] = out.get((label, row.value), 0) + row.n
    return out


def test_published_tables_are_true_where_shown_and_safe_where_hidden(seeded: Counters,
                                                                     report_settings: Settings) -> None:
    data = report.build(seeded, Q3, topics_of(report_settings), report_settings.languages)
    assert [t["id"] for t in data["tables"]] == [s.id for s in report.SPECS]
    topics = next(t for t in data["tables"] if t["id"] == "topics")
    exact = truth(seeded, "topics", Q3)
    shown = hidden = 0
    for i, j in product(range(len(topics["rows"])), range(len(topics["columns"]))):
        value = topics["cells"][i][j]
        real = exact.get((topics["rows"][i], topics["columns"][j]), 0)
        if value is None:
            hidden += 1
            assert real > 0  # only counts are hidden (zeros as complements are avoided here)
        else:
            shown += 1
            assert value == real and (value == 0 or value >= 10)
    assert shown and hidden  # the seed has both
    for t in data["tables"]:
        grid = [list(r) + [tot] for r, tot in zip(t["cells"], t["row_totals"])]
        grid.append(list(t["column_totals"]) + [t["total"]])
        for i, j in product(range(len(grid)), range(len(grid[0]))):
            if grid[i][j] is None:
                lo, hi = feasible_range(grid, (i, j))
                assert hi - lo >= 1, (t["id"], i, j)
    reports = next(t for t in data["tables"] if t["id"] == "reports")
    assert "hegewisch" not in reports["rows"] or reports["row_totals"][reports["rows"].index("hegewisch")]
    assert all(r in dict(AREA_NAMES) or r == "other" for r in reports["rows"])


AREA_NAMES = [("south_lawndale", 1), ("lower_west_side", 1), ("loop", 1), ("hegewisch", 1),
              ("albany_park", 1)]


def test_running_snapshots_only_add_weeks(seeded: Counters, report_settings: Settings) -> None:
    """Two snapshots of the quarter in progress, and the final report, agree on every week
    they share: subtracting one from another reveals nothing that is not shown."""
    args = (topics_of(report_settings), report_settings.languages)
    early = report.build(seeded, Q3, *args, running_until=dt.date(2026, 8, 10))
    later = report.build(seeded, Q3, *args, running_until=dt.date(2026, 9, 1))
    final = report.build(seeded, Q3, *args)
    assert early["running"] and early["complete_through"] == "2026-08-04"
    assert not any(t["rows_axis"] == "area" for t in early["tables"])  # quarters only
    for a, b, f in zip(early["tables"], later["tables"], final["tables"]):
        assert a["id"] == b["id"] == f["id"]
        assert a["column_totals"] == [None] * len(a["columns"]) and a["total"] is None
        n = len(a["rows"])
        assert 0 < n < len(b["rows"]) < len(f["rows"])
        assert a["rows"] == b["rows"][:n] == f["rows"][:n]
        assert a["cells"] == b["cells"][:n] == f["cells"][:n]
        assert a["row_totals"] == b["row_totals"][:n] == f["row_totals"][:n]


def test_the_dashboard_delay(database, report_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    counters = Counters(database)
    now = dt.datetime(2026, 11, 20, 18, tzinfo=dt.timezone.utc)
    seed(counters, dt.date(2026, 10, 1), 51)  # up to the day before `now`
    running = Transparency(report_settings, database).running(now)
    assert running["period"]["label"] == "2026Q4"
    last = dt.date.fromisoformat(running["complete_through"])
    assert last <= now.date() - dt.timedelta(days=8)  # every day shown is over a week old
    assert running["tables"][0]["rows"][-1] <= (last - dt.timedelta(days=6)).isoformat()


def test_noise_is_stated_and_keeps_suppression(seeded: Counters, report_settings: Settings) -> None:
    data = report.build(seeded, Q3, topics_of(report_settings), report_settings.languages,
                        noise_scale=2.0)
    assert data["noise"]["epsilon_per_event"] == 0.5
    for t in data["tables"]:
        assert all(v is None or v == 0 or v >= 10 for row in t["cells"] for v in row)
    assert "epsilon = 0.5" in render(data, "html", "en").decode()
    assert "épsilon = 0.5" in render(data, "html", "es").decode()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_format_renders(seeded: Counters, report_settings: Settings, lang: str) -> None:
    service = Transparency(report_settings, seeded.engine)
    service.store.add_request(dt.date(2026, 8, 3), "subpoena", "no_data", dt.date(2026, 8, 9))
    service.store.add_request(dt.date(2026, 9, 3), "informal", "refused", dt.date(2026, 9, 4))
    service.store.add_request(dt.date(2026, 10, 3), "warrant")  # next quarter
    data = service.build(Q3)
    assert data["legal_requests"] == {"received": 2, "answered": 2, "by_kind": {
        "subpoena": {"no_data": 1}, "informal": {"refused": 1}}}
    page = render(data, "html", lang).decode()
    title = {"en": "Transparency report", "es": "Informe de transparencia"}[lang]
    assert f"<h1>{title}</h1>" in page and page.count("<svg") == 5
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from elsewhere
    assert "<script" not in page
    holds = {"en": "Deleted after 30 days without a message",
             "es": "Se borra tras 30 días sin mensajes"}[lang]
    assert holds in page
    assert {"en": "No data held", "es": "No había datos"}[lang] in page

    rows = list(csv.DictReader(io.StringIO(render(data, "csv", lang).decode())))
    topics = [r for r in rows if r["table"] == "topics"]
    assert len(topics) == (13 + 1) * (len(topics_of(report_settings)) + 2)  # + totals, + other
    assert all((r["count"] == "") == (r["hidden"] == "1") for r in rows)
    assert all(r["count"] == "" or int(r["count"]) == 0 or int(r["count"]) >= 10 for r in rows)

    parsed = json.loads(render(data, "json", lang))
    assert parsed["language"] == lang and parsed["tables"] == data["tables"]

    pdf = render(data, "pdf", lang)
    assert pdf.startswith(b"%PDF")
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    # A cover, five charts, one page per table, what is held and the legal requests.
    assert len(pages) == 1 + 5 + len(report.SPECS) + 1
    assert title in pages[0].extract_text()


def test_the_catalog_is_current_and_spanish_is_complete() -> None:
    from babel.messages.pofile import read_po

    wanted = {m.id for m in extract() if m.id}
    with pot_path().open("rb") as handle:
        on_disk = {m.id for m in read_po(handle) if m.id}
    assert on_disk == wanted, "run: python -c 'from bot.transparency.i18n import write_pot; write_pot()'"
    with po_path("es").open("rb") as handle:
        spanish = read_po(handle)
    for message in spanish:
        if not message.id:
            continue
        assert message.string and not message.fuzzy, message.id
        assert re.findall(r"\{\w+\}", message.id) == re.findall(r"\{\w+\}", message.string), message.id
    assert {m.id for m in spanish if m.id} == wanted
    assert "Review state: draft" in po_path("es").read_text(encoding="utf-8")


def test_counts_with_unknown_areas_are_other(database, report_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    counters = Counters(database)
    when = dt.datetime(2026, 8, 1, 18, tzinfo=dt.timezone.utc)
    with database.begin() as connection:
        for _ in range(12):
            counters.record(c.ALERTS, connection, when=when, area="somewhere_else", language="es")
    data = report.build(counters, Q3, topics_of(report_settings), report_settings.languages)
    alerts = next(t for t in data["tables"] if t["id"] == "alerts")
    assert alerts["rows"] == ["other"] and alerts["total"] == 12
    assert PROJECT_ROOT.exists()
