"""The core never imports Rasa, a channel SDK, the web framework or the database layer."""

import ast
from pathlib import Path

import bot.core

FORBIDDEN = ("rasa", "telegram", "starlette", "uvicorn", "sqlalchemy", "httpx", "aiohttp",
             "bot.engine", "bot.storage", "bot.channels", "bot.settings")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_from_the_outside() -> None:
    core = Path(bot.core.__file__).parent
    leaks = {
        f"{path.name} imports {name}"
        for path in core.glob("*.py")
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not leaks


def test_the_check_can_fail(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text("from rasa.core.agent import Agent\nimport sqlalchemy as sa\n")
    assert {"rasa.core.agent", "sqlalchemy"} <= imported_modules(leaky)
