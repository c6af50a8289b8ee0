"""A picture of a flow for editors: Graphviz DOT (laid out by `dot`), Mermaid text, or a
small self-contained SVG.

`dot_source` is the one editors see by default: Graphviz lays out the boxes and routes
the edges so labels do not sit on each other (bot.flowpics runs `dot`); where `dot` is
missing, Mermaid text is the fallback. The pure-Python `svg` stays for tests and as a
last resort: its layered drawing crosses edges on the larger flows."""

from __future__ import annotations

from html import escape

from bot.core.content import Content
from bot.core.flows import PICK_AREA, Flow

BOX_W, BOX_H, GAP_X, GAP_Y = 240, 64, 40, 70


def _node(flow: Flow, step_id: str) -> str:
    return f"{flow.id}__{step_id}"


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def edges(flow: Flow, content: Content) -> list[tuple[str, str, str]]:
    """(from node, to node, label); other flows are nodes named flow:<id>."""
    out = []
    for step in flow.steps.values():
        source = _node(flow, step.id)
        if step.next:
            out.append((source, _node(flow, step.next), ""))
        if step.next_flow:
            out.append((source, f"flow:{step.next_flow}", ""))
        if step.picked:  # action pick_area or cross_streets: a typed answer leads here
            typed = "(typed area)" if step.action == PICK_AREA else "(typed cross streets)"
            out.append((source, _node(flow, step.picked), typed))
        for option in step.options:
            label = content.texts[option.label].text if option.label in content.texts else option.label
            target = _node(flow, option.goto) if option.goto else f"flow:{option.flow}"
            out.append((source, target, label))
    return out


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot_source(flow: Flow, content: Content) -> str:
    """The flow as a Graphviz digraph: steps as boxes (id and the start of what is said),
    other flows as tabs, buttons as edge labels."""
    lines = [f'digraph "{_dot_text(flow.id)}" {{',
             '  graph [rankdir=TB, nodesep=0.4, ranksep=0.5, fontname="sans-serif"];',
             '  node [shape=box, style="rounded,filled", fillcolor="#eef4fb", fontname="sans-serif", fontsize=11];',
             '  edge [fontname="sans-serif", fontsize=10, fontcolor="#1a5fb4", color="#555555"];']
    for step in flow.steps.values():
        text = content.texts[step.say].text if step.say in content.texts else step.say
        label = f"{step.id}\\n{_dot_text(_short(text, 44))}"
        extra = ', fillcolor="#fde2e1"' if step.urgent or step.action == "handoff" else ""
        lines.append(f'  "{_node(flow, step.id)}" [label="{label}"{extra}];')
    for target in sorted({t for _, t, _ in edges(flow, content) if t.startswith("flow:")}):
        lines.append(f'  "{target}" [label="\u2192 {_dot_text(target[5:])}", shape=tab, fillcolor="#fdf6e3"];')
    for source, target, label in edges(flow, content):
        attrs = f' [label="{_dot_text(_short(label, 28))}"]' if label else ""
        lines.append(f'  "{source}" -> "{target}"{attrs};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(flow: Flow, content: Content) -> str:
    lines = ["flowchart TD"]
    for step in flow.steps.values():
        text = content.texts[step.say].text if step.say in content.texts else step.say
        label = _short(text).replace('"', "'")
        lines.append(f'  {_node(flow, step.id)}["{step.id}: {label}"]')
    targets = sorted({t for _, t, _ in edges(flow, content) if t.startswith("flow:")})
    for target in targets:
        lines.append(f'  {target.replace(":", "_")}[["{target[5:]}"]]')
    for source, target, label in edges(flow, content):
        target = target.replace(":", "_")
        arrow = f' -->|"{label.replace(chr(34), chr(39))}"| ' if label else " --> "
        lines.append(f"  {source}{arrow}{target}")
    return "\n".join(lines) + "\n"


def svg(flow: Flow, content: Content) -> str:
    """Layered drawing: each step one row below the first step that reaches it."""
    all_edges = edges(flow, content)
    depth = {_node(flow, flow.first.id): 0}
    order = [_node(flow, flow.first.id)]
    for node in order:
        for source, target, _ in all_edges:
            if source == node and target not in depth:
                depth[target] = depth[node] + 1
                order.append(target)
    for step in flow.steps.values():  # unreachable steps still get drawn, at the bottom
        node = _node(flow, step.id)
        if node not in depth:
            depth[node] = max(depth.values()) + 1
            order.append(node)
    rows: dict[int, list[str]] = {}
    for node in order:
        rows.setdefault(depth[node], []).append(node)
    width = max(len(r) for r in rows.values()) * (BOX_W + GAP_X) + GAP_X
    height = len(rows) * (BOX_H + GAP_Y) + GAP_Y
    pos = {}
    for level, nodes in rows.items():
        offset = (width - len(nodes) * (BOX_W + GAP_X) + GAP_X) / 2
        for i, node in enumerate(nodes):
            pos[node] = (offset + i * (BOX_W + GAP_X), GAP_Y / 2 + level * (BOX_H + GAP_Y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
             'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
             f'<title>{escape(flow.id)}</title>']
    for source, target, label in all_edges:
        (x1, y1), (x2, y2) = pos[source], pos[target]
        ax, ay, bx, by = x1 + BOX_W / 2, y1 + BOX_H, x2 + BOX_W / 2, y2
        parts.append(f'<line x1="{ax:.0f}" y1="{ay:.0f}" x2="{bx:.0f}" y2="{by:.0f}" '
                     'stroke="#555" marker-end="url(#arrow)"/>')
        if label:
            parts.append(f'<text x="{(ax + bx) / 2:.0f}" y="{(ay + by) / 2:.0f}" fill="#1a5fb4" '
                         f'text-anchor="middle">{escape(label)}</text>')
    for node, (x, y) in pos.items():
        if node.startswith("flow:"):
            title, body, fill = "\u2192 flow", node[5:], "#fdf6e3"
        else:
            step = flow.steps[node.split("__", 1)[1]]
            text = content.texts[step.say].text if step.say in content.texts else step.say
            title, body, fill = step.id, _short(text, 38), "#eef4fb"
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
                     f'fill="{fill}" stroke="#333"/>')
        parts.append(f'<text x="{x + 10:.0f}" y="{y + 24:.0f}" font-weight="bold">{escape(title)}</text>')
        parts.append(f'<text x="{x + 10:.0f}" y="{y + 46:.0f}">{escape(body)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
