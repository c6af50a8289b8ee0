"""`make eval-nlu`: how well free text is understood, per language, on phrasing never seen.

1. Independent set: tests/data/nlu_independent.jsonl, written without sight of the training
   data (panic, capitals, no accents, code-switching, pinyin, Arabizi), minus any phrase
   that also appears in training (normalised), parsed by the trained model. Accuracy per
   language and per intent; an intent the model does not know yet (a topic whose flow has
   not landed) counts as out of scope there: the right answer is the fallback.
2. The older, easier tests/data/nlu_heldout.jsonl, scored the same way, for comparison.
3. Cross-validation: k stratified folds of the training data, a real Rasa NLU model trained
   per fold with the project's pipeline; the gap to the independent set is reported.
4. Reply language: the detector on first messages of three words or more, counted right
   only when it names the language with the confidence the dialogue needs to switch.
5. The fallback threshold swept over the cross-validated confidences, and a confusion
   matrix (PNG) of the independent run in the git-ignored build/eval folder.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.dialogue import SWITCH_P  # the confidence a first message needs to switch
from bot.core.i18n import normalise
from bot.engine import training
from bot.engine.language import word_count
from bot.engine.nlu import FALLBACK, Parser, reported
from bot.settings import Settings

INDEPENDENT = "tests/data/nlu_independent.jsonl"
HELDOUT = "tests/data/nlu_heldout.jsonl"
AMBIGUITY = 0.1  # FallbackClassifier's ambiguity_threshold (Rasa's default, kept)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)



@dataclass
class Scores:
    correct: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    by_intent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (intent, right?)
    oos_rejected: Counter[str] = field(default_factory=Counter)
    oos_total: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, lang: str, truth: str, guess: str) -> None:
        self.confusion[(truth, guess)] += 1
        if truth == FALLBACK:
            self.oos_total[lang] += 1
            self.oos_rejected[lang] += guess == FALLBACK
        else:
            self.total[lang] += 1
            self.correct[lang] += guess == truth
            self.by_intent[(truth, "n")] += 1
            self.by_intent[(truth, "ok")] += guess == truth

    def accuracy(self, lang: str | None = None) -> float:
        if lang is None:
            return sum(self.correct.values()) / max(1, sum(self.total.values()))
        return self.correct[lang] / max(1, self.total[lang])

    def intent_accuracy(self, intent: str) -> float:
        return self.by_intent[(intent, "ok")] / max(1, self.by_intent[(intent, "n")])

    @property
    def intents(self) -> list[str]:
        return sorted({intent for intent, _ in self.by_intent})

    def rejection_in(self, lang: str | None = None) -> float:
        if lang is None:
            return sum(self.oos_rejected.values()) / max(1, sum(self.oos_total.values()))
        return self.oos_rejected[lang] / max(1, self.oos_total[lang])

    @property
    def rejection(self) -> float:
        return self.rejection_in(None)

    @property
    def oos_count(self) -> int:
        return sum(self.oos_total.values())


def decide(ranking: list[dict[str, Any]], threshold: float,
           ambiguity: float = AMBIGUITY) -> str:
    """Rasa's FallbackClassifier rule on a ranking, for a threshold we are trying: too
    unsure, or the first two intents closer than `ambiguity`, falls back."""
    ranked = [r for r in ranking if r.get("name") != FALLBACK]
    top = ranked[0] if ranked else None
    if top is None or float(top.get("confidence") or 0) < threshold:
        return FALLBACK
    if len(ranked) > 1 and (float(top.get("confidence") or 0)
                            - float(ranked[1].get("confidence") or 0)) < ambiguity:
        return FALLBACK
    return reported(top.get("name"))


def expected(intent: str, known: set[str]) -> str:
    """The right answer for a labelled phrase, given the intents the model was trained on."""
    return intent if intent in known and reported(intent) != FALLBACK else FALLBACK


def load_rows(path: Path) -> list[dict[str, str]]:
    """{"text", "lang", "intent"} JSON lines; blank lines and '#' comment lines skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append(json.loads(line))
    return rows


def training_examples(settings: Settings) -> list[tuple[str, str, str]]:
    """(text, intent, language) of every NLU example."""
    rows = []
    for path in training.nlu_files(settings):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                text = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
                if text and "intent" in block:
                    rows.append((text, block["intent"], path.parent.name))
    return rows


async def _parse_all(parser: Parser, texts: list[str]) -> tuple[list[dict[str, Any]], list[float]]:
    results, timings = [], []
    for text in texts:
        started = time.perf_counter()
        results.append(await parser.parse(text))
        timings.append((time.perf_counter() - started) * 1000)
    return results, timings


def is_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha() and c.lower() != c.upper()]
    return len(letters) >= 3 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def is_unaccented(text: str) -> bool:
    """Latin-script text with no diacritics at all (how most phones type without a keyboard)."""
    return text.isascii() and any(c.isalpha() for c in text)


ACCENTED_LANGUAGES = {"es", "fr", "pl", "ht"}


def reply_language(parser: Parser, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Detector right, and confident enough to switch, on messages of 3+ words."""
    long_rows = [r for r in rows if word_count(r["text"]) >= 3]
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong: list[tuple[str, str, str | None]] = []
    for row in long_rows:
        lang, confidence = parser.detect(row["text"])
        ok = lang == row["lang"] and confidence >= SWITCH_P
        groups = [row["lang"], "all"]
        if is_capitals(row["text"]):
            groups.append("capitals")
        if row["lang"] in ACCENTED_LANGUAGES and is_unaccented(row["text"]):
            groups.append("unaccented")
        for group in groups:
            total[group] += 1
            right[group] += ok
        if not ok:
            wrong.append((row["lang"], row["text"], lang))
    short = [r for r in rows if word_count(r["text"]) == 2]
    short_right = sum(parser.detect(r["text"])[0] == r["lang"] for r in short)
    return {"right": right, "total": total, "wrong": wrong,
            "short": short_right / max(1, len(short)), "short_n": len(short)}


def score_file(settings: Settings, parser: Parser, path: str, seen: set[str]) -> dict[str, Any]:
    rows = load_rows(settings.home / path)
    unseen = [r for r in rows if normalise(r["text"]) not in seen]
    results, timings = asyncio.run(_parse_all(parser, [r["text"] for r in unseen]))
    scores = Scores()
    known = parser.intents
    misses: list[tuple[str, str, str, str]] = []
    for row, result in zip(unseen, results):
        truth = expected(row["intent"], known)
        scores.add(row["lang"], truth, result["intent"])
        if truth != result["intent"]:
            misses.append((row["lang"], truth, result["intent"], row["text"]))
    timings.sort()
    return {"scores": scores, "unseen": len(unseen), "total": len(rows), "misses": misses,
            "language": reply_language(parser, rows),
            "unknown": sorted({r["intent"] for r in rows} - known - {"out_of_scope"}),
            "p50": statistics.median(timings), "p99": timings[int(len(timings) * 0.99) - 1]}


def heldout(settings: Settings, parser: Parser, seen: set[str]) -> dict[str, Any]:
    """The independent set (kept as the name tests and scripts import)."""
    return score_file(settings, parser, INDEPENDENT, seen)


def cross_validate(settings: Settings, folds: int, out: Path) -> list[tuple[str, str, list]]:
    """Train a Rasa NLU model per fold; return (lang, truth, ranking) for every example."""
    from rasa.model_training import train_nlu

    rows = training_examples(settings)
    trainable = set(training.trainable_intents(settings))
    rows = [(text, intent if intent in trainable else training.OUT_OF_SCOPE, lang)
            for text, intent, lang in rows]
    by_stratum: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for row in rows:
        by_stratum[(row[2], row[1])].append(row)
    assignment: dict[int, int] = {}
    rng = random.Random(7)
    indexed = {id(row): i for i, row in enumerate(rows)}
    for members in by_stratum.values():
        rng.shuffle(members)
        for k, row in enumerate(members):
            assignment[indexed[id(row)]] = k % folds
    config = training.config_dict([])
    config["policies"] = []
    predictions: list[tuple[str, str, list]] = []
    for fold in range(folds):
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            grouped: dict[str, list[str]] = defaultdict(list)
            for i, (text, intent, _) in enumerate(rows):
                if assignment[i] != fold:
                    grouped[intent].append(text)
            data = {"version": "3.1", "nlu": [
                {"intent": intent, "examples": "".join(f"- {t}\n"
                                                       for t in texts)}
                for intent, texts in grouped.items()]}
            (work / "nlu.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
            (work / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            started = time.monotonic()
            model = train_nlu(str(work / "config.yml"), str(work / "nlu.yml"), str(work),
                              fixed_model_name=f"fold{fold}")
            print(f"  fold {fold + 1}/{folds} trained in {time.monotonic() - started:.0f} s",
                  flush=True)
            parser = Parser(Path(str(model)), None, ())
            test = [(i, r) for i, r in enumerate(rows) if assignment[i] == fold]
            results, _ = asyncio.run(_parse_all(parser, [r[0] for _, r in test]))
            for (_, (text, intent, lang)), result in zip(test, results):
                predictions.append((lang, reported(intent), result["ranking"]))
    return predictions


def confusion_png(scores: Scores, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({t for t, _ in scores.confusion} | {g for _, g in scores.confusion})
    grid = [[scores.confusion[(t, g)] for g in labels] for t in labels]
    figure, axes = plt.subplots(figsize=(11, 10))
    axes.imshow(grid, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value:
                axes.text(j, i, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value > max(map(max, grid)) / 2 else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Independent set: intents (phrasing written apart from training)")
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def report(settings: Settings, folds: int) -> str:
    out = settings.home / "build" / "eval"
    out.mkdir(parents=True, exist_ok=True)
    examples = training_examples(settings)
    languages = sorted({lang for _, _, lang in examples})
    seen = {normalise(text) for text, _, _ in examples}
    parser = Parser(training.model_path(settings), training.language_model_path(settings),
                    tuple(languages))
    ind = score_file(settings, parser, INDEPENDENT, seen)
    old = score_file(settings, parser, HELDOUT, seen)
    confusion_png(ind["scores"], out / "confusion_independent.png")
    cv_scores: Scores | None = None
    predictions: list[tuple[str, str, list]] = []
    if folds > 1:
        started = time.monotonic()
        predictions = cross_validate(settings, folds, out)
        cv_seconds = time.monotonic() - started
        cv_scores = Scores()
        for lang, truth, ranking in predictions:
            cv_scores.add(lang, truth, decide(ranking, training.FALLBACK_THRESHOLD))
    s: Scores = ind["scores"]
    lines = ["## NLU evaluation", "",
             f"Independent set: {ind['unseen']} of {ind['total']} phrases of {INDEPENDENT} "
             f"(written apart from the training data; drafts pending native review) that do "
             f"not appear in training. Older held-out: {old['unseen']} of {old['total']} of "
             f"{HELDOUT}. Cross-validation: "
             + (f"{folds} stratified folds of the training data, one Rasa model per fold "
                f"({cv_seconds:.0f} s)." if cv_scores else "not run (--folds 1)."), ""]
    if ind["unknown"]:
        lines += [f"Not trained yet, so expected to fall back: {', '.join(ind['unknown'])}.", ""]
    lines += ["| language | independent | cross-validated | gap | older held-out | "
              "out-of-scope rejected |", "|---|---:|---:|---:|---:|---:|"]
    for lang in languages + ["overall"]:
        key = None if lang == "overall" else lang
        cv = _pct(cv_scores.accuracy(key)) if cv_scores else "not run"
        gap = (f"{(cv_scores.accuracy(key) - s.accuracy(key)) * 100:+.1f}"
               if cv_scores else "")
        lines.append(f"| {lang} | {_pct(s.accuracy(key))} | {cv} | {gap} | "
                     f"{_pct(old['scores'].accuracy(key))} | {_pct(s.rejection_in(key))} |")
    cv_rejection = _pct(cv_scores.rejection) if cv_scores else "not run"
    lines += ["", f"Out-of-scope rejected: independent {_pct(s.rejection)} ({s.oos_count} "
              f"phrases), older held-out {_pct(old['scores'].rejection)}, cross-validated "
              f"{cv_rejection}.", "",
              "| intent | independent | cross-validated |", "|---|---:|---:|"]
    for intent in sorted(set(s.intents) | set(cv_scores.intents if cv_scores else [])):
        cv = _pct(cv_scores.intent_accuracy(intent)) if cv_scores else "not run"
        lines.append(f"| {intent} | {_pct(s.intent_accuracy(intent))} | {cv} |")
    lang_result = ind["language"]
    right, total = lang_result["right"], lang_result["total"]
    lines += ["", f"Reply language on first messages of 3+ words (detector right with "
              f"confidence >= {SWITCH_P}, as the dialogue needs to switch), independent set:", "",
              "| messages | right | n |", "|---|---:|---:|"]
    for group in ["all", "capitals", "unaccented"] + languages:
        if total[group]:
            lines.append(f"| {group} | {_pct(right[group] / total[group])} | {total[group]} |")
    old_lang = old["language"]
    lines += ["", f"Older held-out, 3+ words: {_pct(old_lang['right']['all'] / max(1, old_lang['total']['all']))} "
              f"({old_lang['total']['all']}). Two-word messages (the bot asks before "
              f"switching), detector's first choice right: {_pct(lang_result['short'])} "
              f"({lang_result['short_n']}).",
              f"Parse latency (one message, NLU only): p50 {ind['p50']:.1f} ms, "
              f"p99 {ind['p99']:.1f} ms.", ""]
    if predictions:
        lines += ["Fallback threshold on the cross-validated confidences (the model uses "
                  f"{training.FALLBACK_THRESHOLD}):", "",
                  "| threshold | in-scope accuracy | out-of-scope rejected |", "|---:|---:|---:|"]
        for threshold in THRESHOLDS:
            swept = Scores()
            for lang, truth, ranking in predictions:
                swept.add(lang, truth, decide(ranking, threshold))
            lines.append(f"| {threshold} | {_pct(swept.accuracy())} | {_pct(swept.rejection)} |")
    lines += ["", f"Confusion matrix: {(out / 'confusion_independent.png').relative_to(settings.home)}"]
    text = "\n".join(lines) + "\n"
    misses = [f"{lang}\t{truth}\t{guess}\t{text}" for lang, truth, guess, text in ind["misses"]]
    misses += [f"{lang}\tlanguage\t{guess}\t{text}" for lang, text, guess in lang_result["wrong"]]
    (out / "misses.tsv").write_text("\n".join(misses) + "\n", encoding="utf-8")
    (out / "latest.md").write_text(text)
    return text
