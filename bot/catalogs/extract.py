"""A Babel extraction method for content/*.yml, registered as `kyr_yaml`.

Every text becomes one catalog entry: msgctxt is its content key, msgid its English text,
and the translator comments say where it appears, its length limit and its placeholders.
`pybabel extract -F babel.cfg` uses it through the `babel.extractors` entry point.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import IO, Any, Collection, Iterator, Mapping

import yaml

from bot.core.check import MAX_BUTTON, MAX_MESSAGE, MAX_PARAGRAPHS


@functools.lru_cache(maxsize=4)
def button_keys(flows_dir: Path) -> frozenset[str]:
    """Content keys shown as buttons: flow titles, option labels, the two global buttons."""
    from bot.core.check import BUTTON_KEYS
    from bot.core.flows import load_flows

    flows, _ = load_flows(flows_dir)
    keys = set(BUTTON_KEYS)
    for flow in flows.values():
        keys.add(flow.title)
        keys.update(o.label for step in flow.steps.values() for o in step.options)
    return frozenset(keys)


def _text_entries(node: yaml.Node) -> Iterator[tuple[str, int, str, dict[str, Any]]]:
    """(key, line, text, entry) for each entry under a top-level `texts:` mapping."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if key_node.value != "texts" or not isinstance(value_node, yaml.MappingNode):
            continue
        for text_key, entry_node in value_node.value:
            entry = yaml.safe_load(yaml.serialize(entry_node))
            if isinstance(entry, str):
                entry = {"text": entry}
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                yield text_key.value, entry_node.start_mark.line + 1, entry["text"].strip(), entry


def extract_yaml(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
                 options: Mapping[str, Any]) -> Iterator[tuple[int, str, tuple[str, ...], list[str]]]:
    from bot.core.render import placeholders

    name = getattr(fileobj, "name", None)
    buttons = button_keys(Path(name).resolve().parent.parent / "flows") if name else frozenset()
    where = f"content/{Path(name).name}" if name else "content/"
    text = fileobj.read().decode("utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, line, source, entry in _text_entries(node):
        comments = [f"key: {key} (in {where})"]
        if entry.get("note"):  # typed words and danger words: never shown as they are
            comments.append(str(entry["note"]))
        elif key in buttons:
            comments.append(f"button label: at most {MAX_BUTTON} characters")
        else:
            comments.append(f"message: at most {MAX_MESSAGE} characters, at most {MAX_PARAGRAPHS} short paragraphs")
        names = sorted(placeholders(source))
        if names:
            comments.append("keep these placeholders exactly: " + ", ".join(f"{{{n}}}" for n in names))
        if entry.get("legal"):
            comments.append("legal statement: use the legal terms of legal-aid organisations "
                            "in your language; sources: " + ", ".join(entry.get("sources") or []))
        if entry.get("plural"):
            comments.append("plural: {count} is the number; give every plural form")
            yield line, "npgettext", (key, source, str(entry["plural"]).strip(), "count"), comments
        else:
            yield line, "pgettext", (key, source), comments
