"""`kyr i18n extract | update | compile | coverage`: Babel's tools, set up for this project."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.core.i18n import REVIEWED_TAG, read_catalog, reviewed_keys  # noqa: F401 (callers import them here)
from bot.core.i18n import is_reviewed as _is_reviewed

from bot.core.languages import NATIVE_NAMES

DOMAIN = "messages"
LEGAL_TAG = "legal statement"
REVIEW_STATE = "Review state:"  # a header comment line: "# Review state: draft; ..."
DRAFT_STATE = "draft, machine-assisted; needs native-speaker review"


def pot_path(home: Path) -> Path:
    return home / "locales" / f"{DOMAIN}.pot"


def po_path(home: Path, lang: str) -> Path:
    return home / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog_languages(home: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in (home / "locales").glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(home: Path, target: Path | None = None) -> Path:
    """Write messages.pot from content/*.yml (and Python); no locations, keys in comments."""
    target = target or pot_path(home)
    _pybabel("extract", "-F", str(home / "babel.cfg"), "-o", str(target), "--no-location",
             "--project", "Know Your Rights bot", "--version", "1",
             "--copyright-holder", "Know Your Rights bot contributors",
             "--msgid-bugs-address", "content team of the deploying organisation",
             str(home))
    return target


def update(home: Path, languages: list[str]) -> None:
    """Merge messages.pot into each language's catalog, creating missing ones."""
    for lang in languages:
        po = po_path(home, lang)
        if po.exists():
            _pybabel("update", "-i", str(pot_path(home)), "-o", str(po), "-l", lang)
        else:
            po.parent.mkdir(parents=True, exist_ok=True)
            _pybabel("init", "-i", str(pot_path(home)), "-o", str(po), "-l", lang)
            text = po.read_text(encoding="utf-8")
            po.write_text(f"# {REVIEW_STATE} {DRAFT_STATE}\n" + text, encoding="utf-8")


def review_state(catalog: Catalog) -> str:
    for line in (catalog.header_comment or "").splitlines():
        body = line.lstrip("# ").strip()
        if body.startswith(REVIEW_STATE):
            return body[len(REVIEW_STATE):].strip()
    return "not recorded"


def compile_catalogs(home: Path, languages: list[str]) -> dict[str, int]:
    """Compile each .po to .mo (fuzzy entries left out: they fall back to English)."""
    counts = {}
    for lang in languages:
        catalog = read_catalog(po_path(home, lang))
        mo = po_path(home, lang).with_suffix(".mo")
        partial = mo.with_suffix(".mo.partial")
        with open(partial, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        partial.replace(mo)  # atomic: a running bot never reads half a file
        counts[lang] = sum(1 for m in catalog if m.id and m.string and not m.fuzzy)
    return counts


@dataclass
class Coverage:
    lang: str
    total: int
    translated: int
    fuzzy: int
    missing: int
    reviewed: int
    legal_total: int
    legal_translated: int
    legal_reviewed: int
    review_state: str


def _is_legal(message: object) -> bool:
    return any(LEGAL_TAG in c for c in getattr(message, "auto_comments", []))


def coverage(home: Path, lang: str) -> Coverage:
    with open(pot_path(home), "rb") as handle:
        template = read_po(handle)
    catalog = read_catalog(po_path(home, lang))
    c = Coverage(lang, 0, 0, 0, 0, 0, 0, 0, 0,
                 review_state(catalog))
    for entry in template:
        if not entry.id:
            continue
        found = catalog.get(entry.id, context=entry.context)
        legal = _is_legal(entry)
        forms = found.string if found is not None and isinstance(found.string, tuple) else (
            (found.string,) if found is not None else ())
        done = bool(found and forms and all(forms) and not found.fuzzy)
        c.total += 1
        c.legal_total += legal
        if found is not None and found.fuzzy:
            c.fuzzy += 1
        elif done:
            c.translated += 1
            c.legal_translated += legal
        else:
            c.missing += 1
        if done and found is not None and _is_reviewed(found):
            c.reviewed += 1
            c.legal_reviewed += legal
    return c


def coverage_table(home: Path, languages: list[str]) -> str:
    rows = ["| language | translated | fuzzy | missing | reviewed | legal translated | "
            "legal reviewed | catalog state |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for lang in languages:
        c = coverage(home, lang)
        rows.append(f"| {lang} {NATIVE_NAMES.get(lang, '')} | {c.translated}/{c.total} | {c.fuzzy} "
                    f"| {c.missing} | {c.reviewed} | {c.legal_translated}/{c.legal_total} | "
                    f"{c.legal_reviewed}/{c.legal_total} | {c.review_state} |")
    return "\n".join(rows)


def _topic(message: object) -> str:
    """The content file a template entry comes from ("key: x (in content/y.yml)")."""
    for comment in getattr(message, "auto_comments", []):
        if comment.startswith("key:") and "(in " in comment:
            return comment.rsplit("(in ", 1)[1].rstrip(")")
    return "?"


def topic_coverage_table(home: Path, languages: list[str]) -> str:
    """Per topic file: legal texts, the English review state, and per language how many
    legal translations a reviewer has signed (`# reviewed-by:`)."""
    from bot.core.content import load_content

    content, _ = load_content(home / "content", home)
    status = {t.path: t.review.status for t in content.texts.values() if t.review is not None}
    with open(pot_path(home), "rb") as handle:
        template = read_po(handle)
    legal: dict[str, list[tuple[str, str]]] = {}
    for entry in template:
        if entry.id and _is_legal(entry):
            legal.setdefault(_topic(entry), []).append((str(entry.context), str(entry.id)))
    reviewed = {lang: reviewed_keys(po_path(home, lang)) for lang in languages}
    rows = ["| topic | English (lawyer) | legal texts | " + " | ".join(languages) + " |",
            "|---|---|---:|" + "---:|" * len(languages)]
    for topic in sorted(legal):
        keys = [k for k, _ in legal[topic]]
        cells = [f"{sum(k in reviewed[lang] for k in keys)}/{len(keys)}" for lang in languages]
        rows.append(f"| {topic} | {status.get(topic, '?')} | {len(keys)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def pot_is_stale(home: Path) -> bool:
    """True when messages.pot differs from a fresh extraction (dates aside)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        fresh = extract(home, Path(folder) / "fresh.pot")
        return _comparable(fresh) != _comparable(pot_path(home))


def _comparable(path: Path) -> str:
    if not path.exists():
        return ""
    buffer = io.BytesIO()
    with open(path, "rb") as handle:
        catalog = read_po(handle)
    import datetime as dt

    fixed = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    catalog.creation_date = catalog.revision_date = fixed
    write_po(buffer, catalog, omit_header=True)
    return buffer.getvalue().decode("utf-8")
