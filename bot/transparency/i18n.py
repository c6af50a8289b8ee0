"""The report's own catalog domain: locales/report.pot, locales/<lang>/LC_MESSAGES/report.po.

A domain of its own, so the report's wording (for the public, funders and the press) is
translated apart from the residents' catalog. The .po files are read with Babel directly
(no compile step): a report is rendered rarely, and a missing or fuzzy entry falls back to
the English source, never to an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.settings import PROJECT_ROOT

DOMAIN = "report"
LANGUAGES = ("en", "es")  # the report's languages; add one by adding its report.po
HERE = Path(__file__).parent


def N_(message: str) -> str:
    """Marks a source string for extraction; translated where it is shown."""
    return message


def po_path(lang: str, home: Path = PROJECT_ROOT) -> Path:
    return home / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def pot_path(home: Path = PROJECT_ROOT) -> Path:
    return home / "locales" / f"{DOMAIN}.pot"


@lru_cache(maxsize=8)
def _catalog(path: Path, mtime: float) -> Catalog | None:
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return read_po(handle)


class Translator:
    """gettext for one language of the report domain."""

    def __init__(self, lang: str, home: Path = PROJECT_ROOT) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        path = po_path(self.lang, home)
        self.catalog = _catalog(path, path.stat().st_mtime) if path.exists() else None

    def __call__(self, message: str, **values: object) -> str:
        text = message
        if self.catalog is not None and self.lang != "en":
            entry = self.catalog.get(message)
            if entry is not None and entry.string and not entry.fuzzy:
                text = str(entry.string)
        return text.format(**values) if values else text

    def of(self, message: str, **values: object) -> str:
        """The same, for a message held in a variable (marked with N_ where it is written)."""
        return self(message, **values)


def extract() -> Catalog:
    """Every string marked in bot/transparency (Python and templates) as a catalog."""
    catalog = Catalog(project="kyr-bot report", domain=DOMAIN)
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for filename, lineno, message, comments, _context in extract_from_dir(
            HERE, method_map, options_map=options, keywords={"_": None, "N_": None},
            comment_tags=("TRANSLATORS:",)):
        catalog.add(message, locations=[(f"bot/transparency/{filename}", lineno)],
                    auto_comments=comments)
    return catalog


def write_pot(home: Path = PROJECT_ROOT) -> Path:
    path = pot_path(home)
    with path.open("wb") as handle:
        write_po(handle, extract(), width=100, omit_header=False, sort_output=True)
    return path
