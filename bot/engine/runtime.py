"""The live dialogue and renderer that the Rasa components use.

Rasa builds graph components itself, from the model; flows, content and catalogs are
loaded by the Engine at start-up (they change without retraining), and the policy and
NLG find them here. One process runs one bot, so one slot is enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.dialogue import Dialogue
from bot.core.render import Renderer


@dataclass(frozen=True)
class Runtime:
    dialogue: Dialogue
    renderer: Renderer


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("bot.engine.runtime.install() was not called before the agent ran")
    return _current
