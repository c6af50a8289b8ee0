"""Babel catalogs: the one path from a content key to the words a resident reads.

The msgctxt of every entry is the content key and the msgid its English source text,
so an edited English text shows up as untranslated instead of silently wrong.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from collections import Counter
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_time, get_day_names
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from bot.core.content import WEEKDAYS, Contact

REVIEWED_TAG = "reviewed-by:"  # a translator comment that signs an entry as reviewed


def read_catalog(po: Path) -> Catalog:
    with open(po, "rb") as handle:
        return read_po(handle, abort_invalid=False)


def is_reviewed(message: object) -> bool:
    return any(c.strip().startswith(REVIEWED_TAG) for c in getattr(message, "user_comments", []))


def reviewed_keys(po: Path) -> frozenset[str]:
    """Content keys whose translation a reviewer signed: `# reviewed-by:`, translated, not fuzzy."""
    if not po.exists():
        return frozenset()
    keys = set()
    for message in read_catalog(po):
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and message.context and all(forms) and not message.fuzzy \
                and is_reviewed(message):
            keys.add(str(message.context))
    return frozenset(keys)

DOMAIN = "messages"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
RTL_LANGUAGES = {"ar", "fa", "he", "ur"}


def babel_locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


class Catalogs:
    """Compiled catalogs per language, loaded from locales/<lang>/LC_MESSAGES/messages.mo."""

    CHECK_EVERY = 1.0  # seconds: a compiled change is live within two

    def __init__(self, locales_dir: Path, languages: tuple[str, ...]) -> None:
        self.locales_dir = locales_dir
        self.languages = languages
        self._translations: dict[str, NullTranslations] = {}
        self._stamps: dict[str, float] = {}
        self._checked = 0.0
        self.fallbacks: Counter[str] = Counter()  # untranslated strings shown, per language
        self.reload()

    def _mo(self, lang: str) -> Path:
        return self.locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"

    def _current_stamps(self) -> dict[str, float]:
        stamps = {}
        for lang in self.languages:
            try:
                stamps[lang] = self._mo(lang).stat().st_mtime
            except FileNotFoundError:
                stamps[lang] = 0.0
        return stamps

    def reload(self) -> None:
        self._stamps = self._current_stamps()
        self._translations = {lang: Translations.load(str(self.locales_dir), [lang], DOMAIN)
                              for lang in self.languages}

    def acknowledge(self) -> None:
        """Take the catalogs on disk as seen without loading them (they failed a check)."""
        self._stamps = self._current_stamps()

    def changed(self) -> bool:
        """True (once) when a compiled catalog changed on disk; cheap, rate-limited."""
        now = time.monotonic()
        if now - self._checked < self.CHECK_EVERY:
            return False
        self._checked = now
        return self._current_stamps() != self._stamps

    def translate_n(self, lang: str, key: str, singular: str, plural: str, n: int) -> str:
        """The plural form for n, by the language's own plural rules."""
        translations = self._translations.get(lang)
        english = singular if n == 1 else plural
        if translations is None:
            return english
        text = str(translations.npgettext(key, singular, plural, n))
        if lang != "en" and text in (singular, plural):
            self.fallbacks[lang] += 1
        return text or english

    def has_translation(self, lang: str, key: str, source: str) -> bool:
        """True when `lang` has its own text for this key (no fallback counted)."""
        translations = self._translations.get(lang)
        return translations is not None and str(translations.pgettext(key, source)) not in ("", source)

    def translate(self, lang: str, key: str, source: str) -> str:
        translations = self._translations.get(lang)
        if translations is None:
            return source
        text = str(translations.pgettext(key, source))
        if lang != "en" and text == source:
            self.fallbacks[lang] += 1
        return text if text else source


def isolate(value: str, lang: str) -> str:
    """Wrap a number, URL or Latin name for right-to-left text so phones keep its order."""
    if lang.split("_")[0] in RTL_LANGUAGES:
        return f"{LRI}{value}{PDI}"
    return value


def _indic_mark(char: str) -> bool:
    """A vowel sign, virama or nukta of the Indic scripts (Devanagari to Sinhala): part of
    the word, not an accent ("मदद", "ખબર" would otherwise fall apart into letters)."""
    return "\u0900" <= char <= "\u0dff" and unicodedata.category(char) in ("Mn", "Mc")


def normalise(text: str) -> str:
    """For matching typed words to buttons: no accents, no case, no punctuation."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) or _indic_mark(c))
    return " ".join("".join(c if c.isalnum() or _indic_mark(c) else " " for c in kept).split())


def format_hours(hours: dict[str, str], lang: str, words: dict[str, str]) -> str:
    """'Mon-Fri 9:00 AM - 5:00 PM' as the locale writes it; runs of equal days grouped."""
    locale = babel_locale(lang)
    names = get_day_names("abbreviated", locale=locale)
    if hours and all(hours.get(d) == "24h" for d in WEEKDAYS):
        return words["always"]

    def span(value: str) -> str:
        if value == "24h":
            return words["all_day"]
        if value == "closed":
            return words["closed"]
        start, _, end = value.partition("-")
        try:
            a = format_time(dt.time.fromisoformat(start.strip()), "short", locale=locale)
            b = format_time(dt.time.fromisoformat(end.strip()), "short", locale=locale)
        except ValueError:
            return value
        return f"{a}\u2013{b}"

    runs: list[tuple[int, int, str]] = []
    for i, day in enumerate(WEEKDAYS):
        value = hours.get(day, "closed")
        if runs and runs[-1][2] == value and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i, value)
        else:
            runs.append((i, i, value))
    parts = []
    for first, last, value in runs:
        if value == "closed":
            continue
        days = names[first] if first == last else f"{names[first]}\u2013{names[last]}"
        parts.append(f"{days} {span(value)}")
    return ", ".join(parts) if parts else words["closed"]


class ContactView:
    """What a placeholder such as {nijc.phone} may read, formatted for one language."""

    def __init__(self, contact: Contact, lang: str, words: dict[str, str]) -> None:
        self.name = isolate(contact.name, lang)
        self.phone = isolate(contact.phone, lang) if contact.phone else ""
        self.url = isolate(contact.url, lang) if contact.url else ""
        # Hours nobody has confirmed are not stated as fact.
        self.hours = (format_hours(contact.hours, lang, words) if contact.status == "confirmed"
                      else words["unconfirmed"])
