"""Flow pictures: Graphviz lays them out (no label on another), Mermaid when dot is missing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bot.catalogs import flowpics
from bot.core.content import load_content
from bot.core.flows import load_flows
from bot.core.graph import dot_source
from bot.settings import load_settings

SETTINGS = load_settings()
FLOWS, _ = load_flows(SETTINGS.flows_dir, SETTINGS.home)
CONTENT, _ = load_content(SETTINGS.content_dir, SETTINGS.home)
needs_dot = pytest.mark.skipif(not flowpics.have_dot(),
                               reason="Graphviz's dot is not installed (make setup installs it)")


def test_dot_source_names_every_step_and_button() -> None:
    flow = FLOWS["ice_at_door"]
    source = dot_source(flow, CONTENT)
    for step in flow.steps:
        assert f'"ice_at_door__{step}"' in source
    assert source.count("->") == sum(len(s.options) + bool(s.next) + bool(s.next_flow)
                                     for s in flow.steps.values())


def _boxes(svg: str) -> list[tuple[float, float, float, float, str]]:
    """Approximate boxes of the edge labels dot placed (x centred, baseline y)."""
    out = []
    for group in re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, re.S):
        for x, y, size, text in re.findall(
                r'<text text-anchor="middle" x="([\d.-]+)" y="([\d.-]+)"[^>]*font-size="([\d.]+)"[^>]*>([^<]*)</text>',
                group):
            width = len(text) * float(size) * 0.5
            out.append((float(x) - width / 2, float(y) - float(size), float(x) + width / 2,
                        float(y), text))
    return out


@needs_dot
@pytest.mark.parametrize("flow_id", ["ice_at_door", "warrant_check", "report_activity"])
def test_edge_labels_do_not_sit_on_each_other(flow_id: str) -> None:
    svg = flowpics.svg_by_dot(FLOWS[flow_id], CONTENT)
    boxes = _boxes(svg)
    assert len(boxes) >= sum(1 for s in FLOWS[flow_id].steps.values() for _ in s.options)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, f"{a[4]!r} over {b[4]!r}"


@needs_dot
def test_all_flows_on_one_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "flows.html"
    done = subprocess.run([sys.executable, "-m", "bot", "flows", "graph", "--all", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == len(FLOWS)
    for flow_id in FLOWS:
        assert f'<section id="{flow_id}">' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")  # nothing fetched


def test_mermaid_when_dot_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flowpics, "have_dot", lambda: False)
    made, text = flowpics.drawing(FLOWS["ice_at_door"], CONTENT, "svg")
    assert made == "mermaid" and text.startswith("flowchart TD")
    page, laid_out = flowpics.all_flows_html(FLOWS, CONTENT)
    assert not laid_out and "<svg" not in page and page.count("<pre>") == len(FLOWS)
