"""Train the Rasa model from flows/ and locales/*/nlu.yml, only when its inputs changed."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.core.dialogue import MENU_FLOW, HELP_FLOW
from bot.core.flows import require_flows
from bot.engine import slots
from bot.engine.policy import BUTTON_INTENT, COMMAND_INTENT, UTTER
from bot.core.problems import StartupError
from bot.settings import Settings

MODEL_NAME = "kyr"
OUT_OF_SCOPE = "out_of_scope"
FALLBACK_THRESHOLD = 0.3

PIPELINE: list[dict[str, Any]] = [
    {"name": "bot.engine.intent_model.FoldingTokenizer"},
    {"name": "bot.engine.intent_model.SentenceCountsFeaturizer", "analyzer": "char_wb",
     "min_ngram": 1, "max_ngram": 4},
    {"name": "bot.engine.intent_model.SentenceCountsFeaturizer"},
    {"name": "bot.engine.intent_model.CalibratedSVMClassifier", "C": 0.5},
    {"name": "FallbackClassifier", "threshold": FALLBACK_THRESHOLD},
]


def nlu_files(settings: Settings) -> list[Path]:
    return sorted(settings.locales_dir.glob("*/nlu.yml"))


def fingerprint(settings: Settings) -> str:
    """A hash of everything the model is trained from, plus this module's own code."""
    digest = hashlib.sha256()
    inputs = sorted(settings.flows_dir.glob("*.yml")) + nlu_files(settings)
    inputs += [Path(__file__)] + [Path(__file__).with_name(name) for name in
                                  ("policy.py", "language.py", "components.py", "intent_model.py")]
    for path in inputs:
        digest.update(str(path.relative_to(settings.home)
                          if path.is_relative_to(settings.home) else path.name).encode())
        digest.update(path.read_bytes())
    import rasa

    digest.update(rasa.__version__.encode())
    return digest.hexdigest()


def model_path(settings: Settings) -> Path:
    return settings.model_dir / f"{MODEL_NAME}.tar.gz"


def language_model_path(settings: Settings) -> Path:
    from bot.engine.language import FILE_NAME

    return settings.model_dir / FILE_NAME


def nlu_examples(settings: Settings) -> list[tuple[str, str]]:
    """(example text, language) from every locales/<lang>/nlu.yml."""
    examples = []
    for path in nlu_files(settings):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                text = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
                if text:
                    examples.append((text, path.parent.name))
    return examples


def fingerprint_path(settings: Settings) -> Path:
    return settings.model_dir / "fingerprint.txt"


def is_current(settings: Settings) -> bool:
    try:
        stored = fingerprint_path(settings).read_text().strip()
    except FileNotFoundError:
        return False
    return (model_path(settings).exists() and language_model_path(settings).exists()
            and stored == fingerprint(settings))


def domain_dict(flow_ids: list[str], intents: list[str]) -> dict[str, Any]:
    return {
        "version": "3.1",
        "intents": sorted(set(intents) | {BUTTON_INTENT, COMMAND_INTENT}),
        "entities": ["payload", "command", "argument"],
        "slots": {
            name: {"type": "any", "influence_conversation": False,
                   "mappings": [{"type": "custom"}]}
            for name in slots.ALL
        },
        "responses": {UTTER: [{"text": "(rendered by bot.engine.nlg.BabelNLG)"}]},
        "session_config": {"session_expiration_time": 60,
                           "carry_over_slots_to_new_session": True},
    }


def config_dict(flow_ids: list[str]) -> dict[str, Any]:
    return {
        "recipe": "default.v1",
        "language": "en",
        "assistant_id": "kyr",
        "pipeline": PIPELINE,
        "policies": [{"name": "bot.engine.policy.FlowPolicy", "flow_ids": flow_ids}],
    }


def warn(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def trainable_intents(settings: Settings) -> list[str]:
    """Intents that have a flow of the same id, plus greet and out_of_scope.

    Any other intent in the NLU data is trained as out_of_scope (`without_flow`), so the
    bot never predicts an intent it has no answer for.
    """
    flows = require_flows(settings.flows_dir)
    return sorted(set(flows) | {"greet", OUT_OF_SCOPE})


def without_flow(blocks: list[dict[str, Any]], allowed: set[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """NLU blocks with every intent that has no flow folded into out_of_scope.

    NLU data may run ahead of the flows (a topic whose content is still being written):
    its phrases are then known not to be a rights topic we answer, which is exactly what
    out_of_scope teaches, so the bot falls back instead of guessing a rights flow.
    """
    kept: list[dict[str, Any]] = []
    early: set[str] = set()
    extra = ""
    for block in blocks:
        if "intent" in block and block["intent"] not in allowed:
            early.add(block["intent"])
            extra += str(block.get("examples", ""))
        else:
            kept.append(dict(block))
    if extra:
        oos = next((b for b in kept if b.get("intent") == OUT_OF_SCOPE), None)
        if oos is None:
            kept.append({"intent": OUT_OF_SCOPE, "examples": extra})
        else:
            oos["examples"] = str(oos.get("examples", "")).rstrip("\n") + "\n" + extra
    return kept, early


def write_training_files(settings: Settings, folder: Path) -> tuple[Path, Path, list[Path]]:
    flows = require_flows(settings.flows_dir)
    flow_ids = sorted(flows)
    intents: set[str] = {"greet", OUT_OF_SCOPE}
    data_dir = folder / "data"
    if folder.exists():
        shutil.rmtree(folder)
    data_dir.mkdir(parents=True)
    training_files = []
    allowed = set(flow_ids) | {"greet", OUT_OF_SCOPE}
    waiting: set[str] = set()
    for source in nlu_files(settings):
        target = data_dir / f"nlu_{source.parent.name}.yml"
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        blocks, early = without_flow(data.get("nlu", []), allowed)
        waiting |= early
        target.write_text(yaml.safe_dump({**data, "nlu": blocks}, allow_unicode=True,
                                         sort_keys=False), encoding="utf-8")
        training_files.append(target)
        intents |= {b["intent"] for b in blocks if "intent" in b}
    if waiting:
        warn(f"warning: NLU intents with no flow of the same id yet: {', '.join(sorted(waiting))}; "
             f"their examples are trained as {OUT_OF_SCOPE} (the fallback answers them) until "
             f"flows/<id>.yml exists\n")
    # One rule keeps Rasa's dialogue training on (a model with none is NLU-only).
    rules = {"version": "3.1", "rules": [{"rule": "dialogue training stays on", "steps": [
        {"intent": "greet"}, {"action": UTTER}]}]}
    rules_path = data_dir / "rules.yml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    training_files.append(rules_path)
    flow_intents = [f for f in flow_ids if f not in (MENU_FLOW, HELP_FLOW)]
    domain_path = folder / "domain.yml"
    domain_path.write_text(yaml.safe_dump(domain_dict(flow_ids, sorted(intents | set(flow_intents))),
                                          sort_keys=False, allow_unicode=True))
    config_path = folder / "config.yml"
    config_path.write_text(yaml.safe_dump(config_dict(flow_ids), sort_keys=False))
    return domain_path, config_path, training_files


def slim(model: Path) -> None:
    """Keep only the inference graph in the model's metadata.

    Rasa stores the training graph too (for `rasa train --finetune`, unused here), and
    loading it imports every default component, TensorFlow and Keras included: about
    2 s and 350 MB per serving process. The components' files are untouched.
    """
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(model, "r:gz") as archive:
            archive.extractall(folder)  # our own freshly trained archive
        metadata_path = Path(folder) / "metadata.json"
        metadata = json.loads(metadata_path.read_text())
        metadata["train_schema"] = {"nodes": {}}
        metadata_path.write_text(json.dumps(metadata))
        partial = model.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as archive:
            for entry in sorted(Path(folder).iterdir()):
                archive.add(entry, arcname=entry.name)
        partial.replace(model)


class _Ticker:
    """A progress line with elapsed seconds while Rasa trains (it prints little itself)."""

    def __init__(self, out: TextIO, label: str) -> None:
        self.out, self.label = out, label
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            self.out.write(f"  ... {self.label}: {time.monotonic() - self.started:.0f} s\n")
            self.out.flush()

    def __enter__(self) -> "_Ticker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def train(settings: Settings, force: bool = False, out: TextIO = sys.stderr) -> Path:
    """Train if needed; returns the model path. Progress goes to `out`, never stdout."""
    target = model_path(settings)
    if not force and is_current(settings):
        out.write(f"model is up to date ({target}); skipping training\n")
        return target
    started = time.monotonic()
    out.write("[1/3] writing Rasa training data from flows/ and locales/*/nlu.yml\n")
    work = settings.model_dir.parent / "train"
    domain_path, config_path, training_files = write_training_files(settings, work)
    out.write(f"[2/3] training NLU and dialogue with Rasa ({len(training_files) - 1} NLU files)\n")
    out.flush()
    from rasa.model_training import train as rasa_train

    settings.model_dir.mkdir(parents=True, exist_ok=True)
    with _Ticker(out, "training"):
        result = rasa_train(
            domain=str(domain_path), config=str(config_path),
            training_files=[str(p) for p in training_files],
            output=str(settings.model_dir), fixed_model_name=MODEL_NAME, force_training=True,
        )
    if result.code != 0 or not result.model:
        raise StartupError(f"Rasa training failed (code {result.code})")
    slim(target)
    from bot.engine import language

    language.train(nlu_examples(settings), language_model_path(settings))
    fingerprint_path(settings).write_text(fingerprint(settings) + "\n")
    out.write(f"[3/3] model written to {target} in {time.monotonic() - started:.0f} s\n")
    return target
