"""The English source texts, their sources and review dates, and the contacts directory."""

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


@dataclass(frozen=True)
class Review:
    reviewer: str
    reviewed: dt.date
    interval_days: int

    @property
    def due(self) -> dt.date:
        return self.reviewed + dt.timedelta(days=self.interval_days)


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
    last_verified: dt.date | None
    status: str
    path: str
    line: int


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


HOURS = re.compile(r"^(24h|closed|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)$")


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
        problems.append(Problem(doc.label, 1, "no 'review:' block: who reviewed these texts, "
                                "when, and how often they must be reviewed"))
    for key in data:
        if key not in ("review", "texts"):
            problems.append(Problem(doc.label, doc.key_line([key]),
                                    f"unknown key '{key}' (expected review, texts)"))
    review = None
    raw_review = data.get("review")
    if isinstance(raw_review, dict):
        reviewed = _as_date(raw_review.get("reviewed"))
        interval = raw_review.get("interval_days")
        reviewer = raw_review.get("reviewer")
        if reviewed is None or not isinstance(interval, int) or not reviewer:
            problems.append(Problem(doc.label, doc.line(["review"]),
                                    "review needs reviewer, reviewed (YYYY-MM-DD) and interval_days"))
        else:
            review = Review(str(reviewer), reviewed, interval)
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


def _load_sources(doc: YamlDoc, content: Content, problems: list[Problem]) -> None:
    for sid, raw in _mapping(doc, "sources", problems).items():
        if not isinstance(raw, dict) or not all(raw.get(k) for k in ("title", "publisher", "url")):
            problems.append(Problem(doc.label, doc.key_line(["sources", sid]),
                                    f"source '{sid}' needs title, publisher and url"))
            continue
        content.sources[sid] = Source(sid, raw["title"], raw["publisher"], raw["url"])


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
                                        f"{day} (write 09:00-17:00, 24h or closed)"))
        if _as_date(raw.get("last_verified")) is None:
            problems.append(Problem(doc.label, line, f"contact '{cid}' needs last_verified: "
                                    "the date someone last checked the number (YYYY-MM-DD)"))
        content.contacts[cid] = Contact(
            id=cid, name=str(raw["name"]), phone=raw.get("phone"), url=raw.get("url"), hours=hours,
            languages=tuple(raw.get("languages") or ()), tags=tuple(raw.get("tags") or ()),
            source=raw.get("source"), last_verified=_as_date(raw.get("last_verified")),
            status=str(raw.get("status") or "unconfirmed"), path=doc.label, line=line,
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
