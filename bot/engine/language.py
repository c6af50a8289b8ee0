"""Which language a resident wrote in: offline, among the bot's languages only.

Two detectors vote: py3langid (its model ships inside its PyPI package) and a small
character n-gram Naive Bayes trained by `kyr train` on locales/*/nlu.yml, i.e. on the way
residents actually type (no accents, slang, Spanglish), which py3langid handles poorly for
Haitian Creole. Measured on tests/data/nlu_heldout.jsonl (written independently of the
training data), messages of three words or more: py3langid alone 94.3%, the pair 99.8%
(README, "Languages").

The n-gram model is one float32 array of hashed n-gram weights (crc32, 2**16 buckets),
saved as .npz and loaded without pickle: a few milliseconds to load, ~0.05 ms a message.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

FILE_NAME = "language.npz"
BUCKETS = 2**16
ALPHA = 0.05
LANGID_CODES = {"zh_Hans": "zh"}  # our code -> py3langid's


def word_count(text: str) -> int:
    """Words, counting Chinese characters in pairs (Chinese is written without spaces)."""
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return len(text.split()) + han // 2


def grams(text: str) -> list[int]:
    """Hashed character 1-4-grams of each word padded with spaces (like char_wb)."""
    out = []
    for word in text.lower().split():
        padded = f" {word} "
        for n in (1, 2, 3, 4):
            out += [zlib.crc32(padded[i:i + n].encode()) & (BUCKETS - 1)
                    for i in range(len(padded) - n + 1)]
    return out


def train(examples: Iterable[tuple[str, str]], target: Path) -> None:
    examples = list(examples)
    languages = sorted({lang for _, lang in examples})
    row = {lang: i for i, lang in enumerate(languages)}
    counts = np.zeros((len(languages), BUCKETS), dtype=np.float64)
    prior = np.zeros(len(languages))
    for text, lang in examples:
        np.add.at(counts[row[lang]], grams(text), 1.0)
        prior[row[lang]] += 1
    weights = np.log((counts + ALPHA) / (counts.sum(axis=1, keepdims=True) + ALPHA * BUCKETS))
    np.savez(target, languages=np.array(languages), weights=weights.astype(np.float32),
             prior=np.log(prior / prior.sum()).astype(np.float32))


class LanguageDetector:
    def __init__(self, model_file: Path, languages: tuple[str, ...]) -> None:
        with np.load(model_file, allow_pickle=False) as data:
            known = [str(code) for code in data["languages"]]
            keep = [i for i, code in enumerate(known) if code in languages]
            self.languages = tuple(known[i] for i in keep)
            self.weights = data["weights"][keep]
            self.prior = data["prior"][keep]
        self.langid = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
        self.langid.set_languages([LANGID_CODES.get(code, code) for code in self.languages])

    def _ours(self, text: str) -> np.ndarray:
        scores = self.prior + self.weights[:, grams(text)].sum(axis=1)
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def detect(self, text: str) -> tuple[Optional[str], float]:
        """(language, confidence 0..1); (None, 0.0) when there is nothing to go on."""
        if not any(c.isalpha() for c in text) or not self.languages:
            return None, 0.0
        ours = self._ours(text)
        theirs = dict(self.langid.rank(text))
        scores = [0.5 * float(ours[i]) + 0.5 * float(theirs.get(LANGID_CODES.get(code, code), 0.0))
                  for i, code in enumerate(self.languages)]
        best = int(np.argmax(scores))
        return self.languages[best], round(scores[best], 4)
