"""Problems found in editors' files, reported as a person wants them: file:line: what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str
    severity: str = "error"  # "error" fails the check, "warning" only informs

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


class ContentError(Exception):
    """Raised when files cannot be loaded at all; carries the problems found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def display_path(path: Path, root: Path | None = None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


class UsageError(Exception):
    """A command was given something it cannot use (a date that is not one): `kyr` prints
    the reason on one line and exits 2, as for a wrong argument."""


class StartupError(Exception):
    """The bot cannot start (no trained model, a model that does not load): `kyr` prints
    the reason on one line and exits non-zero; library code never calls SystemExit."""
