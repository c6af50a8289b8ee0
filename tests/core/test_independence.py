"""The core never imports Rasa, a channel SDK, the web framework or the database layer."""

import subprocess
import sys

from bot.settings import PROJECT_ROOT

FORBIDDEN = ("rasa", "telegram", "starlette", "uvicorn", "sqlalchemy", "httpx", "aiohttp",
             "tensorflow", "bot.engine", "bot.storage", "bot.channels", "bot.settings")

PROBE = """
import importlib, pkgutil, sys
import bot.core
for module in pkgutil.walk_packages(bot.core.__path__, "bot.core."):
    importlib.import_module(module.name)
print("\\n".join(sorted(sys.modules)))
"""


def loaded_by(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def leaks(modules: set[str]) -> set[str]:
    return {m for m in modules for f in FORBIDDEN if m == f or m.startswith(f + ".")}


def test_importing_every_core_module_loads_nothing_from_the_outside() -> None:
    """Walks what importing the core really loads, direct, relative and transitive."""
    modules = loaded_by(PROBE)
    assert "bot.core.dialogue" in modules
    assert leaks(modules) == set()


def test_the_walk_sees_transitive_imports() -> None:
    assert "sqlalchemy" in leaks(loaded_by("import bot.storage.db\nimport sys\n"
                                           "print('\\n'.join(sys.modules))"))
