"""Flow pictures for editors, laid out by Graphviz's `dot` (Debian's graphviz, installed by
`make`), through the `graphviz` package; Mermaid text where `dot` is missing.

`kyr flows graph FLOW --format svg` draws one flow; `kyr flows graph --all -o flows.html`
puts every flow on one page (inline SVG: the page works offline, nothing is fetched).
"""

from __future__ import annotations

import shutil
from html import escape

from bot.core.content import Content
from bot.core.flows import Flow
from bot.core.graph import dot_source, mermaid


def have_dot() -> bool:
    return shutil.which("dot") is not None


def svg_by_dot(flow: Flow, content: Content) -> str:
    """The flow laid out by `dot` as SVG text (raises when `dot` is not installed)."""
    import graphviz  # the Python package only runs the `dot` program

    drawing = graphviz.Source(dot_source(flow, content)).pipe(format="svg", encoding="utf-8")
    start = drawing.find("<svg")  # drop the XML prologue and doctype: the SVG goes inline
    return drawing[start:] if start >= 0 else drawing


def drawing(flow: Flow, content: Content, fmt: str) -> tuple[str, str]:
    """(what was drawn: "svg" | "mermaid" | "dot", the text). SVG falls back to Mermaid."""
    if fmt == "dot":
        return "dot", dot_source(flow, content)
    if fmt == "svg" and have_dot():
        return "svg", svg_by_dot(flow, content)
    return "mermaid", mermaid(flow, content)


def all_flows_html(flows: dict[str, Flow], content: Content) -> tuple[str, bool]:
    """One page with every flow, menu first; (html, laid out by dot)."""
    laid_out = have_dot()
    order = sorted(flows, key=lambda fid: (fid != "main_menu", fid))
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Flows of the Know Your Rights bot</title>",
             "<style>body{font-family:sans-serif;margin:1.5rem;max-width:80rem}"
             "section{margin:2rem 0;border-top:1px solid #ccc;padding-top:1rem}"
             "svg{max-width:100%;height:auto}pre{background:#f6f6f6;padding:1rem;overflow:auto}"
             "nav a{margin-right:.8rem}</style></head><body>",
             "<h1>Flows</h1>",
             "<p>Every conversation flow, drawn from <code>flows/*.yml</code>. Boxes are steps "
             "(the step id and the start of its text); arrows are buttons; tabs are other "
             "flows. Red boxes open a ticket for the hotline.</p>"]
    if not laid_out:
        parts.append("<p><strong>Graphviz (<code>dot</code>) is not installed:</strong> each "
                     "flow is shown as Mermaid text; paste it into a Mermaid viewer, or run "
                     "<code>make setup</code> to install Graphviz.</p>")
    parts.append("<nav>" + "".join(f'<a href="#{escape(fid)}">{escape(fid)}</a>' for fid in order)
                 + "</nav>")
    for fid in order:
        flow = flows[fid]
        title = content.texts[flow.title].text if flow.title in content.texts else fid
        body = svg_by_dot(flow, content) if laid_out else \
            f"<pre>{escape(mermaid(flow, content))}</pre>"
        parts.append(f'<section id="{escape(fid)}"><h2>{escape(title)} '
                     f"<small>({escape(fid)})</small></h2>{body}</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n", laid_out
