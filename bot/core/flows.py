"""Flows are validated data: flows/*.yml -> JSON Schema -> small frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from bot.core.problems import ContentError, Problem, display_path
from bot.core.yamlsrc import YamlDoc

ID_PATTERN = "^[a-z][a-z0-9_]*$"
KEY_PATTERN = "^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$"
ACTIONS = ("delete_my_data", "pick_language", "handoff", "pick_area", "cross_streets",
           "subscribe", "unsubscribe", "file_report")
PICK_AREA = "pick_area"  # the resident types an area (bot.core.areas), held until used
# The resident may type the nearest cross streets (bot.core.streets): held sealed until used.
CROSS_STREETS = "cross_streets"
TYPED_ANSWERS = (PICK_AREA, CROSS_STREETS)  # steps whose typed answer leads to `picked`
# The answers a report collects by button (`collect:` on a step, `value:` on its options),
# in the words of the network's reports (bot.network.reports WHAT / WHEN).
COLLECT: dict[str, tuple[str, ...]] = {
    "what": ("agents", "vehicles", "arrest", "checkpoint", "other"),
    "when": ("now", "last_hour", "today", "earlier"),
    "ongoing": ("yes", "no", "not_sure"),
}

OPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label"],
    "properties": {
        "label": {"type": "string", "pattern": KEY_PATTERN},
        "goto": {"type": "string", "pattern": ID_PATTERN},
        "flow": {"type": "string", "pattern": ID_PATTERN},
        # Content key of the words a resident may type for this button ("my son", "him"),
        # comma-separated, translated through the catalogs like every text.
        "words": {"type": "string", "pattern": KEY_PATTERN},
        # What pressing it answers, on a step that collects one (`collect: when`).
        "value": {"type": "string", "pattern": ID_PATTERN},
    },
    "oneOf": [{"required": ["goto"]}, {"required": ["flow"]}],
}

STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "say"],
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "say": {"type": "string", "pattern": KEY_PATTERN},
        "next": {"type": "string", "pattern": ID_PATTERN},
        "next_flow": {"type": "string", "pattern": ID_PATTERN},
        # 8 options + "Main menu" + "Talk to a person" = 10, WhatsApp's list limit.
        "options": {"type": "array", "minItems": 1, "maxItems": 8, "items": OPTION_SCHEMA},
        "directory": {"type": "string", "pattern": ID_PATTERN},
        "action": {"enum": list(ACTIONS)},
        # Someone is in danger now: a ticket opened here, or asked for from here, is urgent.
        "urgent": {"type": "boolean"},
        # action pick_area / cross_streets: the step a typed answer that is taken leads to.
        "picked": {"type": "string", "pattern": ID_PATTERN},
        # The answer its buttons give, kept until the flow files it (see COLLECT).
        "collect": {"enum": list(COLLECT)},
    },
    "not": {"anyOf": [
        {"required": ["next", "options"]},
        {"required": ["next_flow", "options"]},
        {"required": ["next", "next_flow"]},
    ]},
}

FLOW_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title", "steps"],
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "title": {"type": "string", "pattern": KEY_PATTERN},
        "disclaimer": {"type": "boolean"},
        "menu": {"type": "boolean"},
        "urgent": {"type": "boolean"},  # every step of the flow is urgent
        "steps": {"type": "array", "minItems": 1, "items": STEP_SCHEMA},
    },
}


@dataclass(frozen=True)
class Option:
    label: str
    goto: str | None
    flow: str | None
    line: int
    words: str | None = None  # content key: typed words that mean this button
    value: str | None = None  # what it answers on a step that collects (COLLECT)

    @property
    def target(self) -> str:
        """The stable part of a button payload: a step id, or @flow for another flow."""
        return self.goto if self.goto is not None else f"@{self.flow}"


def split_target(target: str) -> tuple[str, int]:
    """'where#2' -> ('where', 2): a payload's target and which option with it (see
    bot.core.dialogue.option_payloads); a broken suffix is the first."""
    name, _, suffix = target.partition("#")
    return name, (int(suffix) if suffix.isdecimal() else 0)


@dataclass(frozen=True)
class Step:
    id: str
    say: str
    next: str | None
    next_flow: str | None
    options: tuple[Option, ...]
    directory: str | None
    action: str | None
    line: int
    urgent: bool = False
    picked: str | None = None  # pick_area / cross_streets: where a taken typed answer leads
    collect: str | None = None  # the answer its buttons give (a COLLECT name)

    @property
    def waits(self) -> bool:
        """A step waits for the resident unless it goes straight on."""
        return self.next is None and self.next_flow is None

    def option_for(self, target: str, occurrence: int = 0) -> Option | None:
        """The option a payload names: its target, and which of the options with that
        target ('#1' is the second): "Agents" and "An arrest" both go to `where`."""
        same = [o for o in self.options if o.target == target]
        return same[occurrence] if 0 <= occurrence < len(same) else None


@dataclass(frozen=True)
class Flow:
    id: str
    title: str
    disclaimer: bool
    menu: bool  # whether the main menu lists it
    steps: dict[str, Step]
    path: str
    line: int
    urgent: bool = False

    @property
    def first(self) -> Step:
        return next(iter(self.steps.values()))


def _explain(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "the file"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        extra = ", ".join(sorted(set(error.instance) - set(error.schema.get("properties", {}))))
        return f"unknown key '{extra}' in {where} (expected one of: {allowed})"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "pattern":
        return (f"{where}: {error.instance!r} is not a valid id (lower case letters, digits, "
                "underscores; content keys have dots)")
    if error.validator == "oneOf" and "goto" in str(error.schema):
        return f"{where}: an option needs exactly one of 'goto' (a step) or 'flow' (another flow)"
    if error.validator == "not":
        return f"{where}: a step has at most one of 'next', 'next_flow' and 'options'"
    if error.validator == "maxItems":
        return (f"{where}: at most {error.validator_value} options (the bot adds 'Main menu' and "
                "'Talk to a person'; WhatsApp shows at most 10 choices)")
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    return f"{where}: {error.message}"


def load_flow_file(path: Path, root: Path | None = None) -> tuple[Flow | None, list[Problem]]:
    label = display_path(path, root)
    try:
        doc = YamlDoc(path, label)
    except ContentError as exc:
        return None, exc.problems
    validator = jsonschema.Draft7Validator(FLOW_SCHEMA)
    invalid = [Problem(label, doc.line(list(e.absolute_path)), _explain(e))
               for e in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path)))]
    problems = doc.duplicate_keys() + invalid  # a duplicate key is reported, yet loadable
    if invalid:
        return None, problems
    data = doc.data
    if data["id"] != path.stem:
        problems.append(Problem(label, doc.line(["id"]),
                                f"flow id '{data['id']}' must match the file name '{path.stem}'"))
    steps: dict[str, Step] = {}
    for i, raw in enumerate(data["steps"]):
        if raw["id"] in steps:
            problems.append(Problem(label, doc.line(["steps", i, "id"]),
                                    f"step id '{raw['id']}' is used twice"))
            continue
        options = tuple(
            Option(o["label"], o.get("goto"), o.get("flow"), doc.line(["steps", i, "options", j]),
                   o.get("words"), o.get("value"))
            for j, o in enumerate(raw.get("options", ()))
        )
        steps[raw["id"]] = Step(
            id=raw["id"], say=raw["say"], next=raw.get("next"), next_flow=raw.get("next_flow"),
            options=options, directory=raw.get("directory"), action=raw.get("action"),
            line=doc.line(["steps", i]), urgent=bool(raw.get("urgent")),
            picked=raw.get("picked"), collect=raw.get("collect"),
        )
    flow = Flow(id=data["id"], title=data["title"], disclaimer=bool(data.get("disclaimer")),
                menu=bool(data.get("menu", True)), steps=steps, path=label, line=1,
                urgent=bool(data.get("urgent")))
    return flow, problems


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """The YAML form of a flow (what load_flow_file reads), for tools and round-trip tests."""
    steps = []
    for step in flow.steps.values():
        raw: dict[str, Any] = {"id": step.id, "say": step.say}
        for key in ("next", "next_flow", "directory", "action", "picked", "collect"):
            if getattr(step, key) is not None:
                raw[key] = getattr(step, key)
        if step.urgent:
            raw["urgent"] = True
        if step.options:
            raw["options"] = [{"label": o.label, **({"goto": o.goto} if o.goto else {"flow": o.flow}),
                               **({"words": o.words} if o.words else {}),
                               **({"value": o.value} if o.value else {})}
                              for o in step.options]
        steps.append(raw)
    data: dict[str, Any] = {"id": flow.id, "title": flow.title}
    if flow.disclaimer:
        data["disclaimer"] = True
    if not flow.menu:
        data["menu"] = False
    if flow.urgent:
        data["urgent"] = True
    data["steps"] = steps
    return data


def load_flows(flows_dir: Path, root: Path | None = None) -> tuple[dict[str, Flow], list[Problem]]:
    """All flows of a folder, and every problem found loading them (not cross-references)."""
    flows: dict[str, Flow] = {}
    problems: list[Problem] = []
    for path in sorted(flows_dir.glob("*.yml")):
        flow, found = load_flow_file(path, root)
        problems.extend(found)
        if flow is not None:
            flows[flow.id] = flow
    return flows, problems


def require_flows(flows_dir: Path) -> dict[str, Flow]:
    """Flows for running the bot: any error stops start-up with the full list."""
    flows, problems = load_flows(flows_dir, flows_dir.parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ContentError(errors)
    return flows
