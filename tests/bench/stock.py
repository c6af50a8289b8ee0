"""The stock Rasa 3.6 assistant: our NLU pipeline and data, RulePolicy, one response per intent.

`ensure_model` writes the training files, and trains (in a subprocess, output to a log file)
only when their hash differs from the one stored next to the model.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from bot.engine.training import PIPELINE


# Our components (bot.engine.*) and the stock Rasa component that does the same job.
STOCK_EQUIVALENT = {"Tokenizer": "WhitespaceTokenizer", "Featurizer": "CountVectorsFeaturizer",
                    "Classifier": "LogisticRegressionClassifier"}


def stock_pipeline() -> list[dict[str, Any]]:
    """Our NLU pipeline with Rasa's own components only: our tokenizer (script folding) ->
    WhitespaceTokenizer, our calibrated SVM -> LogisticRegressionClassifier. The stock
    process must never import bot.engine (its Rasa patches would make it not stock)."""
    out = []
    for component in PIPELINE:
        name = str(component["name"])
        if name.startswith("bot."):
            kind = next(k for k in STOCK_EQUIVALENT if name.endswith(k))
            # The featurizer keeps its settings (analyzer, n-grams): the same features.
            settings = {k: v for k, v in component.items() if k != "name" and kind == "Featurizer"}
            out.append({"name": STOCK_EQUIVALENT[kind], **settings})
        else:
            out.append(dict(component))
    return out

MODEL_NAME = "stock"
FALLBACK = "nlu_fallback"  # what FallbackClassifier predicts below its threshold


def intents_of(nlu_files: list[Path]) -> list[str]:
    found: set[str] = set()
    for path in nlu_files:
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if "intent" in block:
                found.add(block["intent"])
    return sorted(found)


def domain_dict(intents: list[str]) -> dict[str, Any]:
    """utter_<intent> for every intent, each with buttons to the next two intents and greet."""
    responses = {}
    for i, intent in enumerate(intents + [FALLBACK]):
        targets = [intents[(i + 1) % len(intents)], intents[(i + 2) % len(intents)], "greet"]
        responses[f"utter_{intent}"] = [{
            "text": f"About {intent.replace('_', ' ')}: here is what you can do.",
            "buttons": [{"title": t.replace("_", " "), "payload": f"/{t}"}
                        for t in dict.fromkeys(targets)],
        }]
    return {"version": "3.1", "intents": intents, "responses": responses}


def rules_dict(intents: list[str]) -> dict[str, Any]:
    return {"version": "3.1", "rules": [
        {"rule": f"answer {intent}", "steps": [{"intent": intent}, {"action": f"utter_{intent}"}]}
        for intent in intents + [FALLBACK]
    ]}


def config_dict() -> dict[str, Any]:
    return {"recipe": "default.v1", "language": "en", "assistant_id": "kyr-bench-stock",
            "pipeline": stock_pipeline(), "policies": [{"name": "RulePolicy"}]}


def write_training_files(nlu_files: list[Path], folder: Path) -> tuple[Path, Path, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    intents = intents_of(nlu_files)

    def dump(name: str, data: dict[str, Any]) -> Path:
        path = folder / name
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    data: list[Path] = []
    for source in nlu_files:
        data.append(folder / f"nlu_{source.parent.name}.yml")
        shutil.copyfile(source, data[-1])
    data.append(dump("rules.yml", rules_dict(intents)))
    return dump("domain.yml", domain_dict(intents)), dump("config.yml", config_dict()), data


def ensure_model(nlu_files: list[Path], folder: Path) -> Path:
    """The trained stock model in `folder`, trained now only if its inputs changed."""
    domain, config, data = write_training_files(nlu_files, folder / "train")
    digest = hashlib.sha256(version("rasa").encode())
    for path in [domain, config, *data]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    model, stamp = folder / f"{MODEL_NAME}.tar.gz", folder / "inputs.sha256"
    if model.exists() and stamp.exists() and stamp.read_text().strip() == digest.hexdigest():
        return model
    log = folder / "train.log"
    print(f"training the stock Rasa model (log: {log})", file=sys.stderr, flush=True)
    with log.open("w") as out:
        command = [sys.executable, "-m", "tests.bench.stock", str(domain), str(config),
                   str(folder), *map(str, data)]
        if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            raise SystemExit(f"training the stock model failed: see {log}")
    stamp.write_text(digest.hexdigest() + "\n")
    return model


def _train(domain: str, config: str, output: str, *data: str) -> int:
    from rasa.model_training import train

    result = train(domain=domain, config=config, training_files=list(data), output=output,
                   fixed_model_name=MODEL_NAME, force_training=True)
    return 0 if result.code == 0 and result.model else 1


if __name__ == "__main__":
    sys.exit(_train(*sys.argv[1:]))
