"""The English source texts, their sources and review state, and the contacts directory.

Review state says what happened, not what should have: a topic is `draft` until a lawyer
of the deploying organisation has reviewed it (`lawyer_reviewed`, with who and when).
What nobody could confirm from a source is listed under `to_verify` for the lawyers,
not written into what residents read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.problems import ContentError, Problem, display_path
from bot.core.yamlsrc import YamlDoc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RESERVED_FILES = {"sources.yml", "contacts.yml"}


REVIEW_STATES = ("draft", "lawyer_reviewed")
SOURCE_KINDS = ("primary", "secondary")
CONTACT_STATES = ("confirmed", "unconfirmed", "placeholder")
NOT_CHECKED = "not yet"  # a source nobody has recorded opening: the check warns
OLD_REVIEW_KEYS = {"reviewer", "reviewed", "interval_days"}
REVIEW_KEYS = {"status", "by", "date", "due", "to_verify"}


@dataclass(frozen=True)
class Review:
    status: str              # draft | lawyer_reviewed
    by: str | None           # the lawyer who reviewed (None while draft)
    date: dt.date | None     # when they did (None while draft)
    due: dt.date             # when the next (or first) lawyer review is due
    to_verify: tuple[str, ...]
    path: str
    line: int

    @property
    def lawyer_reviewed(self) -> bool:
        return self.status == "lawyer_reviewed"


@dataclass(frozen=True)
class Text:
    key: str
    text: str
    legal: bool
    sources: tuple[str, ...]
    path: str
    line: int
    review: Review | None
    plural: str | None = None  # English plural form; the text is then the singular


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    publisher: str
    url: str
    kind: str = "secondary"          # primary: the law, the order, the agency's own page
    checked: dt.date | None = None   # the day someone opened the URL and read it
    path: str = ""
    line: int = 0


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    phone: str | None
    url: str | None
    hours: dict[str, str]
    languages: tuple[str, ...]
    tags: tuple[str, ...]
    source: str | None
    status: str                      # confirmed | unconfirmed | placeholder
    confirmed_page: str | None       # the organisation's page where number and hours were read
    confirmed_date: dt.date | None
    path: str
    line: int
    note: str | None = None


@dataclass
class Content:
    texts: dict[str, Text] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)

    def text(self, key: str) -> str:
        return self.texts[key].text

    def directory(self, tag: str) -> list[Contact]:
        return [c for c in self.contacts.values() if tag in c.tags]


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


HOURS = re.compile(r"^(24h|closed|unknown|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)$")


def _mapping(doc: YamlDoc, key: str, problems: list[Problem]) -> dict[str, Any]:
    data = doc.data if isinstance(doc.data, dict) else {}
    value = data.get(key) or {}
    if not isinstance(doc.data, dict) or not isinstance(value, dict):
        problems.append(Problem(doc.label, doc.line([key]) if isinstance(doc.data, dict) else 1,
                                f"expected '{key}:' followed by entries (id: fields)"))
        return {}
    return value


def _load_topic_file(doc: YamlDoc, content: Content, problems: list[Problem]) -> None:
    data = doc.data or {}
    if not isinstance(data, dict):
        problems.append(Problem(doc.label, 1, "expected 'review:' and 'texts:' at the top"))
        return
    if "review" not in data:
        problems.append(Problem(doc.label, 1, "no 'review:' block: status (draft or lawyer_reviewed), "
                                "by, date, due and to_verify"))
    for key in data:
        if key not in ("review", "texts"):
            problems.append(Problem(doc.label, doc.key_line([key]),
                                    f"unknown key '{key}' (expected review, texts)"))
    review = _load_review(doc, data.get("review"), problems) if "review" in data else None
    texts = data.get("texts") or {}
    if not isinstance(texts, dict):
        problems.append(Problem(doc.label, doc.line(["texts"]), "texts must be a mapping of key: entry"))
        return
    for key, entry in texts.items():
        line = doc.key_line(["texts", key])
        if isinstance(entry, str):
            entry = {"text": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            problems.append(Problem(doc.label, line, f"'{key}' needs a 'text'"))
            continue
        unknown = set(entry) - {"text", "plural", "legal", "sources", "note"}
        if unknown:
            problems.append(Problem(doc.label, line, f"unknown key '{', '.join(sorted(unknown))}' in "
                                    f"'{key}' (expected text, plural, legal, sources, note)"))
        if key in content.texts:
            other = content.texts[key]
            problems.append(Problem(doc.label, line,
                                    f"key '{key}' is already defined at {other.path}:{other.line}"))
            continue
        sources = entry.get("sources") or []
        content.texts[key] = Text(
            key=str(key), text=entry["text"].strip(), legal=bool(entry.get("legal")),
            sources=tuple(str(s) for s in sources), path=doc.label, line=line, review=review,
            plural=str(entry["plural"]).strip() if entry.get("plural") else None,
        )


def _load_review(doc: YamlDoc, raw: Any, problems: list[Problem]) -> Review | None:
    """The `review:` block; every problem names the line, and old-style dates are refused."""
    line = doc.line(["review"])
    if not isinstance(raw, dict):
        problems.append(Problem(doc.label, line, "review must be a mapping: status, by, date, "
                                "due, to_verify"))
        return None
    old = OLD_REVIEW_KEYS & set(raw)
    if old:
        problems.append(Problem(doc.label, line, f"review uses {', '.join(sorted(old))}: write "
                                "status (draft | lawyer_reviewed), by, date, due, to_verify "
                                "instead (see content/README.md)"))
        return None
    unknown = set(raw) - REVIEW_KEYS
    if unknown:
        problems.append(Problem(doc.label, line, f"unknown key '{', '.join(sorted(unknown))}' "
                                "in review (expected status, by, date, due, to_verify)"))
    status = raw.get("status")
    if status not in REVIEW_STATES:
        problems.append(Problem(doc.label, line, f"review status '{status}' (expected "
                                f"{' or '.join(REVIEW_STATES)})"))
        return None
    due = _as_date(raw.get("due"))
    if due is None:
        problems.append(Problem(doc.label, line, "review needs due: the date by which a lawyer "
                                "must (re)review these texts (YYYY-MM-DD)"))
        return None
    by = str(raw["by"]).strip() if raw.get("by") else None
    date = _as_date(raw.get("date"))
    if status == "lawyer_reviewed" and (not by or date is None):
        problems.append(Problem(doc.label, line, "status lawyer_reviewed needs by (the lawyer) "
                                "and date (YYYY-MM-DD)"))
        return None
    if status == "draft" and (by or date):
        problems.append(Problem(doc.label, line, "a draft has no by/date: nobody has reviewed "
                                "it yet (set status: lawyer_reviewed when a lawyer has)"))
        return None
    items = raw.get("to_verify") or []
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        problems.append(Problem(doc.label, line, "to_verify must be a list of sentences"))
        items = []
    return Review(str(status), by, date, due, tuple(i.strip() for i in items), doc.label, line)


def _load_sources(doc: YamlDoc, content: Content, problems: list[Problem]) -> None:
    for sid, raw in _mapping(doc, "sources", problems).items():
        line = doc.key_line(["sources", sid])
        if not isinstance(raw, dict) or not all(raw.get(k) for k in ("title", "publisher", "url")):
            problems.append(Problem(doc.label, line, f"source '{sid}' needs title, publisher and url"))
            continue
        kind = raw.get("kind")
        if kind not in SOURCE_KINDS:
            problems.append(Problem(doc.label, line, f"source '{sid}' needs kind: primary (the "
                                    "statute, order or agency page itself) or secondary"))
            kind = "secondary"
        checked = _as_date(raw.get("checked"))
        if checked is None and raw.get("checked") != NOT_CHECKED:
            problems.append(Problem(doc.label, line, f"source '{sid}' needs checked: the date "
                                    "someone opened the URL and read it (YYYY-MM-DD), or "
                                    f"\"{NOT_CHECKED}\""))
        content.sources[sid] = Source(sid, raw["title"], raw["publisher"], raw["url"], str(kind),
                                      checked, doc.label, line)


def _load_contacts(doc: YamlDoc, content: Content, problems: list[Problem]) -> None:
    for cid, raw in _mapping(doc, "contacts", problems).items():
        line = doc.key_line(["contacts", cid])
        if not isinstance(raw, dict) or not raw.get("name") or not (raw.get("phone") or raw.get("url")
                                                                      or "chat" in (raw.get("tags") or [])):
            problems.append(Problem(doc.label, line, f"contact '{cid}' needs a name and a phone or url"))
            continue
        hours = {str(k): str(v) for k, v in (raw.get("hours") or {}).items()}
        bad_days = set(hours) - set(WEEKDAYS)
        if bad_days:
            problems.append(Problem(doc.label, line, f"contact '{cid}': unknown weekday "
                                    f"{', '.join(sorted(bad_days))} (use {', '.join(WEEKDAYS)})"))
        for day, value in hours.items():
            if not HOURS.match(value):
                problems.append(Problem(doc.label, line, f"contact '{cid}': hours '{value}' on "
                                        f"{day} (write 09:00-17:00, 24h, closed or unknown)"))
        if set(hours) != set(WEEKDAYS):
            problems.append(Problem(doc.label, line, f"contact '{cid}' needs hours for every day "
                                    f"({', '.join(WEEKDAYS)}): HH:MM-HH:MM, 24h or closed"))
        languages = raw.get("languages")
        if not isinstance(languages, list) or not languages:
            problems.append(Problem(doc.label, line, f"contact '{cid}' needs languages: the "
                                    "language codes it answers in, e.g. [en, es]"))
            languages = []
        if "last_verified" in raw:
            problems.append(Problem(doc.label, line, f"contact '{cid}': last_verified is replaced "
                                    "by status and confirmed: {page, date}"))
        status = str(raw.get("status") or "unconfirmed")
        if status not in CONTACT_STATES:
            problems.append(Problem(doc.label, line, f"contact '{cid}': status '{status}' "
                                    f"(expected {', '.join(CONTACT_STATES)})"))
            status = "unconfirmed"
        confirmed_raw = raw.get("confirmed")
        confirmed: dict = confirmed_raw if isinstance(confirmed_raw, dict) else {}
        page, date = confirmed.get("page"), _as_date(confirmed.get("date"))
        if status == "confirmed" and "unknown" in hours.values():
            problems.append(Problem(doc.label, line, f"contact '{cid}' is confirmed but some "
                                    "hours are unknown: confirmed means number and hours were read"))
            status = "unconfirmed"
        if status == "confirmed" and (not page or date is None):
            problems.append(Problem(doc.label, line, f"contact '{cid}' is confirmed without "
                                    "confirmed: {page: <the organisation's page where number "
                                    "and hours were read>, date: YYYY-MM-DD}"))
            status = "unconfirmed"
        content.contacts[cid] = Contact(
            id=cid, name=str(raw["name"]), phone=raw.get("phone"), url=raw.get("url"), hours=hours,
            languages=tuple(str(x) for x in languages), tags=tuple(raw.get("tags") or ()),
            source=raw.get("source"), status=status, confirmed_page=str(page) if page else None,
            confirmed_date=date, path=doc.label, line=line,
            note=str(raw["note"]) if raw.get("note") else None,
        )


def load_content(content_dir: Path, root: Path | None = None) -> tuple[Content, list[Problem]]:
    content = Content()
    problems: list[Problem] = []
    for path in sorted(content_dir.glob("*.yml")):
        try:
            doc = YamlDoc(path, display_path(path, root))
        except ContentError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(doc.duplicate_keys())
        if path.name == "sources.yml":
            _load_sources(doc, content, problems)
        elif path.name == "contacts.yml":
            _load_contacts(doc, content, problems)
        else:
            _load_topic_file(doc, content, problems)
    return content, problems


def require_content(content_dir: Path) -> Content:
    content, problems = load_content(content_dir, content_dir.parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ContentError(errors)
    return content
