"""Which language a resident wrote in: offline, among the bot's languages only.

A character n-gram Naive Bayes trained by `kyr train` on locales/*/nlu.yml, i.e. on the way
residents actually type (no accents, slang, Spanglish, pinyin, Arabizi), decides; py3langid
(its model ships inside its PyPI package) is a weak log-linear prior. Both read folded
text: case and Latin accents removed, so "AIDEZ MOI ICE A LA PORTE" reads like
"aidez-moi, ICE à la porte". Measured on tests/data/nlu_independent.jsonl, first messages of
three words or more, right with the confidence the dialogue needs to switch (README,
"Languages"): the former average of the two, case-sensitive, 88.5% (Haitian Creole 57.8%,
capitals 58.5%); lingua-language-detector was tried (72.7% alone: no Haitian Creole, low
confidence on short text; 291 MB and 2.7 s to load) and not kept.

A language written in two scripts (romanised Hindi, Urdu and Gujarati, Arabizi, pinyin,
transliterated Ukrainian) gets one row of weights per script, both answering for the
language: with one row, the Latin n-grams of Hindi were a small share of a mostly
Devanagari distribution and lost to Tagalog or English. Measured on first messages of three
words or more, Latin-script text of the non-Latin languages was named confidently 39% of
the time with one row and 87% with two (independent set, 31 rows; 5-fold detector
cross-validation on the NLU data 39% to 61%), all messages 97.1% to 98.8%.

The n-gram model is one float32 array of hashed n-gram weights (crc32, 2**16 buckets),
saved as .npz and loaded without pickle: a few milliseconds to load, ~0.05 ms a message.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

FILE_NAME = "language.npz"
BUCKETS = 2**16
ALPHA = 0.05
LANGID_CODES = {"zh_Hans": "zh"}  # our code -> py3langid's
LANGID_WEIGHT = 0.3  # exponent of py3langid's probability beside our n-gram model's
SCRIPT_ROW_MIN = 20  # examples a language needs in each of two scripts for a row per script


def word_count(text: str) -> int:
    """Words, counting Chinese characters in pairs (Chinese is written without spaces)."""
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return len(text.split()) + han // 2


# Letters phones often type without their marks, and that do not decompose in Unicode.
PLAIN = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ı": "i", "’": "'", "ʼ": "'",
                       "‘": "'", "`": "'"})
LATIN_MARKS_END = 0x024F  # base letters up to Latin Extended-B lose their accents


def fold(text: str) -> str:
    """Case and accent folding: 'ÉTÉ ARRÊTÉ' and 'ete arrete' read the same.

    Only Latin letters lose their marks (é, ò, ą, ñ); Cyrillic й/ї, Arabic, Devanagari and
    Hangul are kept whole, because there the marks are letters residents do type.
    """
    decomposed = unicodedata.normalize("NFD", text.casefold().translate(PLAIN))
    out: list[str] = []
    for c in decomposed:
        if unicodedata.combining(c) and out and ord(out[-1]) <= LATIN_MARKS_END:
            continue
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out))


def grams(text: str) -> list[int]:
    """Hashed character 1-4-grams of each folded word padded with spaces (like char_wb)."""
    out = []
    for word in fold(text).split():
        padded = f" {word} "
        for n in (1, 2, 3, 4):
            out += [zlib.crc32(padded[i:i + n].encode()) & (BUCKETS - 1)
                    for i in range(len(padded) - n + 1)]
    return out


def is_latin(text: str) -> bool:
    """Mostly Latin letters (romanised Hindi, Arabizi, pinyin count as Latin)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and 2 * sum(ord(c) <= LATIN_MARKS_END for c in letters) >= len(letters)


def train(examples: Iterable[tuple[str, str]], target: Path) -> None:
    """Naive Bayes weights, one row per language, or per language and script when it has
    SCRIPT_ROW_MIN examples in Latin letters and as many in its own script."""
    examples = list(examples)
    scripts = Counter((lang, is_latin(text)) for text, lang in examples)

    def key(text: str, lang: str) -> tuple[str, str]:
        latin = is_latin(text)
        if min(scripts[(lang, latin)], scripts[(lang, not latin)]) >= SCRIPT_ROW_MIN:
            return lang, "latin" if latin else "own"
        return lang, ""

    keys = sorted({key(text, lang) for text, lang in examples})
    row = {k: i for i, k in enumerate(keys)}
    counts = np.zeros((len(keys), BUCKETS), dtype=np.float64)
    prior = np.zeros(len(keys))
    for text, lang in examples:
        i = row[key(text, lang)]
        np.add.at(counts[i], grams(text), 1.0)
        prior[i] += 1
    weights = np.log((counts + ALPHA) / (counts.sum(axis=1, keepdims=True) + ALPHA * BUCKETS))
    np.savez(target, languages=np.array([lang for lang, _ in keys]),
             weights=weights.astype(np.float32),
             prior=np.log(prior / prior.sum()).astype(np.float32))


class LanguageDetector:
    def __init__(self, model_file: Path, languages: tuple[str, ...]) -> None:
        with np.load(model_file, allow_pickle=False) as data:
            known = [str(code) for code in data["languages"]]
            keep = [i for i, code in enumerate(known) if code in languages]
            self.languages = tuple(dict.fromkeys(known[i] for i in keep))  # a row per script
            self.rows = np.array([self.languages.index(known[i]) for i in keep], dtype=np.intp)
            self.weights = data["weights"][keep]
            self.prior = data["prior"][keep]
        self.langid = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
        self.langid.set_languages([LANGID_CODES.get(code, code) for code in self.languages])

    def _ours(self, text: str) -> np.ndarray:
        scores = self.prior + self.weights[:, grams(text)].sum(axis=1)
        scores = np.exp(scores - scores.max())
        per_language = np.zeros(len(self.languages))
        np.add.at(per_language, self.rows, scores / scores.sum())  # a language's scripts add up
        return per_language

    def detect(self, text: str) -> tuple[Optional[str], float]:
        """(language, confidence 0..1); (None, 0.0) when there is nothing to go on.

        Log-linear: the n-gram model trained on our NLU data decides, py3langid (given
        folded text, as it is case-sensitive) is a weak prior for words outside that data.
        """
        if not any(c.isalpha() for c in text) or not self.languages:
            return None, 0.0
        ours = self._ours(text)
        theirs = dict(self.langid.rank(fold(text)))
        prior = np.array([theirs.get(LANGID_CODES.get(code, code), 0.0) for code in self.languages])
        scores = np.log(ours + 1e-12) + LANGID_WEIGHT * np.log(prior + 1e-3)
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        best = int(np.argmax(scores))
        return self.languages[best], round(float(scores[best]), 4)
