"""Catalogs are checked, not trusted: what `kyr content check` and start-up run on them.

A language is offered to residents only when its catalog has no errors here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bot.catalogs.tools import catalog_languages, po_path, pot_is_stale, pot_path, read_catalog
from bot.core.check import MAX_BUTTON, MAX_MESSAGE, MAX_PARAGRAPHS
from bot.core.problems import Problem
from bot.core.render import placeholders


def _where(home: Path, lang: str) -> str:
    return str(po_path(home, lang).relative_to(home))


def check_catalog(home: Path, lang: str, button_keys: frozenset[str]) -> list[Problem]:
    where = _where(home, lang)
    path = po_path(home, lang)
    problems: list[Problem] = []
    if shutil.which("msgfmt"):
        done = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            for complaint in done.stderr.strip().splitlines()[:5]:
                problems.append(Problem(where, 1, f"msgfmt --check: {complaint}"))
    catalog = read_catalog(path)
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue  # untranslated and fuzzy entries fall back to English
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        text = max((str(f) for f in forms), key=len)
        line = int(message.lineno or 1)
        key = message.context or "?"
        allowed = set().union(*(placeholders(str(s)) for s in sources))
        required = allowed - {"count"}  # a singular form may say "one" instead of {count}
        for form in (str(f) for f in forms if f):
            found = placeholders(form)
            if not found <= allowed or not required <= found:
                problems.append(Problem(where, line, f"'{key}': placeholders {sorted(found)} "
                                        f"differ from the English {sorted(allowed)}"))
        if key in button_keys and len(text) > MAX_BUTTON:
            problems.append(Problem(where, line, f"'{key}': button label has {len(text)} "
                                    f"characters (at most {MAX_BUTTON}): \"{text}\""))
        if key not in button_keys and len(text) > MAX_MESSAGE - 24:
            problems.append(Problem(where, line, f"'{key}': {len(text)} characters (at most "
                                    f"{MAX_MESSAGE} once phone numbers are filled in)"))
        if len([p for p in text.split("\n\n") if p.strip()]) > MAX_PARAGRAPHS:
            problems.append(Problem(where, line, f"'{key}': more than {MAX_PARAGRAPHS} paragraphs"))
    return problems


def check_all(home: Path) -> list[Problem]:
    from bot.catalogs.extract import button_keys

    problems: list[Problem] = []
    if shutil.which("msgfmt") is None:
        problems.append(Problem("locales/", 1, "GNU gettext's msgfmt is not installed: the "
                                "msgfmt --check of every catalog was skipped", "warning"))
    if not pot_path(home).exists():
        return [Problem("locales/messages.pot", 1, "missing: run 'kyr i18n extract'")]
    if pot_is_stale(home):
        problems.append(Problem("locales/messages.pot", 1, "out of date with content/: run "
                                "'kyr i18n extract' then 'kyr i18n update'"))
    buttons = button_keys((home / "flows").resolve())
    for lang in catalog_languages(home):
        problems += check_catalog(home, lang, buttons)
    return problems


def live_languages(home: Path, wanted: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, int]]:
    """The wanted languages whose catalogs pass; English always. Also errors per dropped one."""
    from bot.catalogs.extract import button_keys

    buttons = button_keys((home / "flows").resolve())
    live, dropped = [], {}
    for lang in wanted:
        if lang == "en":
            live.append(lang)
            continue
        po = po_path(home, lang)
        if not po.exists() or not po.with_suffix(".mo").exists():
            dropped[lang] = -1
            continue
        errors = check_catalog(home, lang, buttons)
        if errors:
            dropped[lang] = len(errors)
        else:
            live.append(lang)
    return tuple(live), dropped
