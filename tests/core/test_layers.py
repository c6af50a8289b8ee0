"""The layers of ARCHITECTURE.md, proved on the source: imports point down only, no cycles.

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import
upward is still a dependency upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.settings import PROJECT_ROOT

BOT = PROJECT_ROOT / "bot"


def package_of(module: str) -> str:
    """bot.engine.policy -> bot.engine; top-level modules (bot.settings) stand alone."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    relative = path.relative_to(PROJECT_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The bot modules `path` imports, absolute or relative."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "bot" or m.startswith("bot.")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in BOT.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules or package_of(m) in modules}
            for name, path in modules.items()}


GRAPH = graph()


def importers(of: str, in_: str) -> set[str]:
    """Modules under `in_` importing anything under `of`."""
    return {module for module, targets in GRAPH.items()
            if (module == in_ or module.startswith(in_ + "."))
            for target in targets if target == of or target.startswith(of + ".")}


def test_the_walk_sees_imports() -> None:
    assert "bot.engine.codec" in GRAPH["bot.engine.policy"]
    assert importers("bot.engine", "bot.app")


def test_the_rasa_adapter_imports_no_handoff_console_channel_app_or_editor_tooling() -> None:
    for above in ("bot.handoff", "bot.web", "bot.channels", "bot.app", "bot.catalogs", "bot.cli"):
        assert importers(above, "bot.engine") == set(), above


def test_channels_import_neither_the_engine_nor_the_application() -> None:
    for above in ("bot.engine", "bot.app", "bot.web", "bot.cli", "bot.handoff"):
        assert importers(above, "bot.channels") == set(), above


def test_nothing_below_imports_the_console_or_the_channels() -> None:
    for below in ("bot.app", "bot.engine", "bot.handoff", "bot.core", "bot.storage"):
        assert importers("bot.web", below) == set(), below
        assert importers("bot.channels", below) == set(), below


def test_the_console_uses_the_application_layer() -> None:
    assert importers("bot.app", "bot.web.console")
    assert importers("bot.engine", "bot.web.console") == set()


def test_no_package_cycles() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        packages.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(package: str, path: list[str]) -> None:
        state[package] = 1
        for target in sorted(packages.get(package, ())):
            assert state.get(target) != 1, " -> ".join(path + [package, target])
            if target not in state:
                visit(target, path + [package])
        state[package] = 2

    for package in sorted(packages):
        if package not in state:
            visit(package, [])


def test_the_content_check_takes_its_payload_limit_from_the_channels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`kyr content check` passes the strictest channel's limits; a stricter one bites."""
    from bot.channels.registry import strictest
    from bot.core.check import run_check
    from bot.core.delivery import Limits

    home = PROJECT_ROOT
    assert strictest().payload_bytes == 64  # Telegram's callback_data
    loose = [p for p in run_check(home, limits=strictest()) if "payload" in p.message]
    tight = [p for p in run_check(home, limits=Limits(payload_bytes=20)) if "payload" in p.message]
    assert not loose and tight
