"""`make eval-nlu`: how well free text is understood, per language, on phrasing never seen.

1. Held-out: tests/data/nlu_heldout.jsonl (written separately from the training data),
   minus any phrase that also appears in training (normalised), parsed by the trained model.
2. Cross-validation: k stratified folds of the training data, a real Rasa NLU model trained
   per fold with the project's pipeline.
3. The fallback threshold swept over the cross-validated confidences.
4. A confusion matrix (PNG) of the held-out run, in the git-ignored build/eval folder.
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

from bot.core.i18n import normalise
from bot.engine import training
from bot.engine.language import word_count
from bot.engine.nlu import FALLBACK, Parser, reported
from bot.settings import Settings

HELDOUT = "tests/data/nlu_heldout.jsonl"
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass
class Scores:
    correct: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    oos_rejected: int = 0
    oos_total: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, lang: str, truth: str, guess: str) -> None:
        self.confusion[(truth, guess)] += 1
        if truth == FALLBACK:
            self.oos_total += 1
            self.oos_rejected += guess == FALLBACK
        else:
            self.total[lang] += 1
            self.correct[lang] += guess == truth

    def accuracy(self, lang: str | None = None) -> float:
        if lang is None:
            return sum(self.correct.values()) / max(1, sum(self.total.values()))
        return self.correct[lang] / max(1, self.total[lang])

    @property
    def rejection(self) -> float:
        return self.oos_rejected / max(1, self.oos_total)


def decide(ranking: list[dict[str, Any]], threshold: float) -> str:
    """Rasa's FallbackClassifier rule on a ranking, for a threshold we are trying."""
    top = next((r for r in ranking if r.get("name") != FALLBACK), None)
    if top is None or float(top.get("confidence") or 0) < threshold:
        return FALLBACK
    return reported(top.get("name"))


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


def heldout(settings: Settings, parser: Parser, seen: set[str]) -> dict[str, Any]:
    rows = [json.loads(line) for line in (settings.home / HELDOUT).read_text().splitlines() if line]
    unseen = [r for r in rows if normalise(r["text"]) not in seen]
    results, timings = asyncio.run(_parse_all(parser, [r["text"] for r in unseen]))
    scores = Scores()
    for row, result in zip(unseen, results):
        scores.add(row["lang"], row["intent"], result["intent"])
    long_rows = [r for r in rows if word_count(r["text"]) >= 3]
    detected = sum(parser.language(r["text"]) == r["lang"] for r in long_rows)
    timings.sort()
    return {"scores": scores, "unseen": len(unseen), "total": len(rows),
            "detection": detected / max(1, len(long_rows)), "detection_n": len(long_rows),
            "p50": statistics.median(timings), "p99": timings[int(len(timings) * 0.99) - 1]}


def cross_validate(settings: Settings, folds: int, out: Path) -> list[tuple[str, str, list]]:
    """Train a Rasa NLU model per fold; return (lang, truth, ranking) for every example."""
    from rasa.model_training import train_nlu

    rows = training_examples(settings)
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
    figure, axes = plt.subplots(figsize=(10, 9))
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
    axes.set_title("Held-out intents (phrasing not in training)")
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def report(settings: Settings, folds: int) -> str:
    out = settings.home / "build" / "eval"
    out.mkdir(parents=True, exist_ok=True)
    languages = sorted({lang for _, _, lang in training_examples(settings)})
    seen = {normalise(text) for text, _, _ in training_examples(settings)}
    parser = Parser(training.model_path(settings), training.language_model_path(settings),
                    tuple(languages))
    held = heldout(settings, parser, seen)
    confusion_png(held["scores"], out / "confusion_heldout.png")
    lines = ["## NLU evaluation", "",
             f"Held-out: {held['unseen']} of {held['total']} phrases of {HELDOUT} that do not "
             f"appear in the training data; cross-validation: {folds} stratified folds of "
             f"the training data, one Rasa model trained per fold.", ""]
    cv_scores = None
    predictions: list[tuple[str, str, list]] = []
    if folds > 1:
        predictions = cross_validate(settings, folds, out)
        cv_scores = Scores()
        threshold = training.FALLBACK_THRESHOLD
        for lang, truth, ranking in predictions:
            cv_scores.add(lang, truth, decide(ranking, threshold))
    lines += ["| language | held-out accuracy | cross-validated accuracy |", "|---|---:|---:|"]
    for lang in languages + ["overall"]:
        key = None if lang == "overall" else lang
        cv = f"{cv_scores.accuracy(key):.1%}" if cv_scores else "not run"
        lines.append(f"| {lang} | {held['scores'].accuracy(key):.1%} | {cv} |")
    cv_rejection = f"{cv_scores.rejection:.1%}" if cv_scores else "not run"
    lines += ["", f"Out-of-scope rejected: held-out {held['scores'].rejection:.1%} "
              f"({held['scores'].oos_total} phrases), cross-validated {cv_rejection}.",
              f"Language detected correctly on messages of 3+ words: {held['detection']:.1%} "
              f"({held['detection_n']}).",
              f"Parse latency (one message, NLU only): p50 {held['p50']:.1f} ms, "
              f"p99 {held['p99']:.1f} ms.", ""]
    if predictions:
        lines += ["Fallback threshold on the cross-validated confidences (the model uses "
                  f"{training.FALLBACK_THRESHOLD}):", "",
                  "| threshold | in-scope accuracy | out-of-scope rejected |", "|---:|---:|---:|"]
        for threshold in THRESHOLDS:
            s = Scores()
            for lang, truth, ranking in predictions:
                s.add(lang, truth, decide(ranking, threshold))
            lines.append(f"| {threshold} | {s.accuracy():.1%} | {s.rejection:.1%} |")
    lines += ["", f"Confusion matrix: {(out / 'confusion_heldout.png').relative_to(settings.home)}"]
    text = "\n".join(lines) + "\n"
    (out / "latest.md").write_text(text)
    return text
