"""Danger in a resident's own words, in any live language, typos included.

"estan rompiendo la puerta", "they are taking him", "someone is hurt": the bot must answer
these at once, in any state (also while a ticket waits), with 911 for danger to life and
the hotline line that is open now. The words are content (`danger.words_*` in
content/danger.yml, comma-separated, translated through the catalogs), so editors and
translators extend them without a developer; this module only matches them.

Matching is deliberately forgiving: a phrase matches when its words appear in order in the
message, each word equal or within one typo (two for long words), with at most two other
words between them ("they are breaking down the door"). Chinese, written without spaces,
is matched as a substring. A false alarm costs one short urgent message; a missed one can
cost a life, so the lexicon errs on the side of answering.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping

from bot.core.i18n import normalise

LIFE = "life"  # someone hurt, a weapon, cannot breathe: 911 first
NOW = "now"  # agents forcing their way in, someone being taken: what to do, the line open now
KINDS = (LIFE, NOW)  # checked in this order: danger to life wins
KEYS = {LIFE: "danger.words_life", NOW: "danger.words_now"}
MAX_GAP = 2  # other words allowed between two words of a phrase
_SEPARATORS = re.compile(r"[,;\n\u3001\u060c\uff0c\uff1b]")  # , ; newline 、 ، ， ；


def has_han(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


def split_phrases(text: str) -> list[str]:
    """'my son, mi hijo; him' -> ['my son', 'mi hijo', 'him'], normalised, empty ones dropped."""
    return [p for p in (normalise(part) for part in _SEPARATORS.split(text)) if p]


def typo_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count one), or limit+1 once above it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


@functools.lru_cache(maxsize=1 << 16)
def word_matches(wanted: str, typed: str) -> bool:
    """Equal, or a typo away: short words (under 4 letters) must be exact.

    Cached: every message is checked against every live language's phrases (about 2,000
    word comparisons a message with 14 languages), and the same pairs come back in every
    message; uncached, this was half of a free-text turn's time in a profile."""
    if wanted == typed:
        return True
    if len(wanted) < 4:
        return False
    limit = 2 if len(wanted) >= 8 else 1
    if abs(len(wanted) - len(typed)) > limit:
        return False
    return typo_distance(wanted, typed, limit) <= limit


@functools.lru_cache(maxsize=1 << 14)
def _parts(phrase: str) -> tuple[bool, str, tuple[str, ...]]:
    """(Chinese?, the phrase without spaces, its words): once per phrase, not per message."""
    return has_han(phrase), phrase.replace(" ", ""), tuple(phrase.split())


def phrase_in(phrase: str, words: list[str], joined: str) -> bool:
    """Whether a normalised phrase occurs in a message's normalised words (see module doc)."""
    han, compact, wanted = _parts(phrase)
    if han:
        return compact in joined
    if len(wanted) == 1 and len(wanted[0]) < 8:  # one word alone: "shot" is not "shop",
        return wanted[0] in words  # "saigne" is not "signe", "senyen" is not "genyen"
    for start, word in enumerate(words):
        if not word_matches(wanted[0], word):
            continue
        at, ok = start, True
        for part in wanted[1:]:
            window = words[at + 1: at + 2 + MAX_GAP]
            hit = next((k for k, w in enumerate(window) if word_matches(part, w)), None)
            if hit is None:
                ok = False
                break
            at += 1 + hit
        if ok:
            return True
    return False


def _limit(word: str) -> int:
    """The typos a wanted word allows (word_matches): none under 4 letters."""
    return 0 if len(word) < 4 else 2 if len(word) >= 8 else 1


@functools.lru_cache(maxsize=1 << 16)
def _deletions(word: str, depth: int) -> frozenset[str]:
    """The word with up to `depth` letters left out (itself included)."""
    found, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return frozenset(found)


@dataclass(frozen=True)
class _Index:
    """A lexicon ready for messages: its phrases by first word, and those first words by
    their deletions. Two words within k typos (swaps included) become equal after at most k
    deletions on each side, so a message word's deletions find every first word it could
    be a typo of, and only those are compared in full (the phrases of all 14 languages
    were about 2,000 word comparisons a message; this is a few dozen set lookups)."""

    han: tuple[tuple[Hashable, str], ...]  # (label, phrase): Chinese, found inside the text
    by_first: dict[str, tuple[tuple[Hashable, str], ...]]  # first word -> (label, phrase)
    by_deletion: dict[str, tuple[str, ...]]  # a deletion of a first word -> first words


@functools.lru_cache(maxsize=256)
def _index(phrases: tuple[tuple[Hashable, tuple[str, ...]], ...]) -> _Index:
    """Phrases by a label each: a kind (one lexicon), or (language, kind) (all of them)."""
    han: list[tuple[Hashable, str]] = []
    by_first: dict[str, list[tuple[Hashable, str]]] = {}
    for kind, texts in phrases:
        for phrase in texts:
            is_han, _compact, words = _parts(phrase)
            if is_han:
                han.append((kind, phrase))
            elif words:
                by_first.setdefault(words[0], []).append((kind, phrase))
    by_deletion: dict[str, set[str]] = {}
    for first in by_first:
        for variant in _deletions(first, _limit(first)):
            by_deletion.setdefault(variant, set()).add(first)
    return _Index(tuple(han), {k: tuple(v) for k, v in by_first.items()},
                  {k: tuple(sorted(v)) for k, v in by_deletion.items()})


def _starts(index: _Index, words: list[str]) -> list[str]:
    """The first words of phrases that some word of the message matches (word_matches)."""
    found: dict[str, None] = {}
    for word in dict.fromkeys(words):
        if word in index.by_first:
            found[word] = None
        # A typed word is a typo of a wanted one only within 2 letters of its length, and
        # a wanted word allows 2 typos only from 8 letters (so the typed word has 6).
        depth = 2 if len(word) >= 6 else 1 if len(word) >= 3 else 0
        for variant in _deletions(word, depth):
            for first in index.by_deletion.get(variant, ()):
                if first not in found and word_matches(first, word):
                    found[first] = None
    return list(found)


@dataclass(frozen=True)
class Lexicon:
    """The danger phrases of one language, by kind."""

    phrases: dict[str, tuple[str, ...]]

    @classmethod
    def from_texts(cls, texts: dict[str, str]) -> "Lexicon":
        """{kind: 'comma, separated, phrases'} as the catalogs give them."""
        return cls({kind: tuple(split_phrases(text)) for kind, text in texts.items()})

    def index(self) -> _Index:
        """Built once per set of phrases (a recompiled catalog makes a new one)."""
        return _index(tuple((kind, tuple(self.phrases[kind])) for kind in sorted(self.phrases)))


def _found(index: _Index, normalised: str) -> set[Hashable]:
    """The labels of the phrases of `index` that occur in a normalised message."""
    words = normalised.split()
    joined = normalised.replace(" ", "")
    found: set[Hashable] = set()
    for label, phrase in index.han:
        if label not in found and phrase_in(phrase, words, joined):
            found.add(label)
    for first in _starts(index, words):
        for label, phrase in index.by_first[first]:
            if label not in found and phrase_in(phrase, words, joined):
                found.add(label)
    return found


def detect(lexicons: Iterable[Lexicon], text: str) -> str | None:
    """LIFE, NOW or None for a message, trying every language's lexicon."""
    normalised = normalise(text)
    if not normalised:
        return None
    found: set[Hashable] = set()
    for lexicon in lexicons:
        found |= _found(lexicon.index(), normalised)
    return next((kind for kind in KINDS if kind in found), None)


class Lexicons:
    """Several languages' lexicons in one index: a message is normalised once and looked
    up once, whatever the number of languages (built once per set of catalogs)."""

    def __init__(self, lexicons: Mapping[str, Lexicon]) -> None:
        self.codes = tuple(lexicons)
        self.index = _index(tuple(((code, kind), tuple(lexicon.phrases[kind]))
                                  for code, lexicon in lexicons.items()
                                  for kind in sorted(lexicon.phrases)))

    def detect_each(self, text: str) -> dict[str, str]:
        """{language: LIFE or NOW} for every language whose phrases the message matches."""
        normalised = normalise(text)
        if not normalised:
            return {}
        found = _found(self.index, normalised)
        return {code: next(kind for kind in KINDS if (code, kind) in found)
                for code in self.codes if any((code, kind) in found for kind in KINDS)}


def detect_slowly(lexicons: Iterable[Lexicon], text: str) -> str | None:
    """`detect` by trying every phrase (no index): what the index must agree with (tests)."""
    normalised = normalise(text)
    if not normalised:
        return None
    words = normalised.split()
    joined = normalised.replace(" ", "")
    found: set[str] = set()
    for lexicon in lexicons:
        for kind in KINDS:
            if kind not in found and any(phrase_in(p, words, joined)
                                         for p in lexicon.phrases.get(kind, ())):
                found.add(kind)
    return next((kind for kind in KINDS if kind in found), None)
