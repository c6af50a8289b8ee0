"""YAML loading that remembers where each value came from (for file:line errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

from bot.core.problems import ContentError, Problem


class YamlDoc:
    """A parsed YAML file plus its node tree, to find the line of any path in it."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise ContentError([Problem(label, line, "not UTF-8 text: save the file as UTF-8")]) from exc
        try:
            self.node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc)
            raise ContentError([Problem(label, line, f"YAML syntax: {problem}")]) from exc

    def duplicate_keys(self) -> list[Problem]:
        """YAML lets a later key silently replace an earlier one; editors must hear of it."""
        problems = []
        todo = [self.node] if self.node is not None else []
        while todo:
            node = todo.pop()
            if isinstance(node, yaml.MappingNode):
                seen: dict[str, int] = {}
                for key_node, value_node in node.value:
                    key, line = str(key_node.value), key_node.start_mark.line + 1
                    if key in seen:
                        problems.append(Problem(self.label, line, f"key '{key}' appears twice "
                                                f"(also line {seen[key]}); the first is ignored"))
                    seen[key] = line
                    todo.append(value_node)
            elif isinstance(node, yaml.SequenceNode):
                todo.extend(node.value)
        return problems

    def line(self, path: Sequence[Any] = ()) -> int:
        """1-based line of the value at `path` (keys and list indexes); nearest parent if absent."""
        node = self.node
        if node is None:
            return 1
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == str(part):
                        child = value_node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    child = node.value[part]
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def key_line(self, path: Sequence[Any]) -> int:
        """Line of the key that ends `path` (where an editor looks for a mapping entry)."""
        if not path:
            return 1
        parent = self.node
        for part in path[:-1]:
            found = None
            if isinstance(parent, yaml.MappingNode):
                found = next((v for k, v in parent.value if k.value == str(part)), None)
            elif isinstance(parent, yaml.SequenceNode) and isinstance(part, int):
                found = parent.value[part] if 0 <= part < len(parent.value) else None
            if found is None:
                return self.line(path)
            parent = found
        if isinstance(parent, yaml.MappingNode):
            for key_node, _ in parent.value:
                if key_node.value == str(path[-1]):
                    return key_node.start_mark.line + 1
        return self.line(path)
