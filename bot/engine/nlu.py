"""Rasa's NLU on its own: `kyr parse --jsonl` and the evaluation behind `make eval-nlu`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import IO, Any, Iterable, Optional

from rasa.core.agent import Agent

from bot.core.problems import StartupError
from bot.engine import speedups
from bot.engine.codec import clean_text
from bot.engine.engine import silence_rasa_event_logs
from bot.engine.language import LanguageDetector

OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"


def reported(intent: Optional[str]) -> str:
    """Out of scope is reported as the fallback: never guessed into a rights flow."""
    return FALLBACK if intent in (None, OUT_OF_SCOPE, FALLBACK) else str(intent)


class Parser:
    """The trained model's NLU, loaded once."""

    def __init__(self, model: Path, detector_file: Optional[Path], languages: tuple[str, ...]) -> None:
        silence_rasa_event_logs()
        speedups.install()
        self.agent = Agent.load(str(model))
        if not self.agent.is_ready():
            raise StartupError(f"the Rasa model at {model} could not be loaded")
        self.detector = (LanguageDetector(detector_file, languages)
                         if detector_file is not None and detector_file.exists() else None)

    async def parse(self, text: str) -> dict[str, Any]:
        cleaned = clean_text(text).lstrip("/").strip()
        if not cleaned:
            return {"intent": FALLBACK, "confidence": 1.0}
        result = await self.agent.parse_message(cleaned)
        intent = result.get("intent") or {}
        return {"intent": reported(intent.get("name")),
                "confidence": round(float(intent.get("confidence") or 0.0), 4),
                "ranking": result.get("intent_ranking") or []}

    @property
    def intents(self) -> set[str]:
        """The intents this model was trained on (out of scope included)."""
        return set(self.agent.domain.intents) if self.agent.domain else set()

    def detect(self, text: str) -> tuple[Optional[str], float]:
        return self.detector.detect(text) if self.detector is not None else (None, 0.0)

    def language(self, text: str) -> Optional[str]:
        return self.detect(text)[0]


async def parse_lines(parser: Parser, lines: Iterable[bytes], out: IO[str]) -> None:
    """One JSON line out per line in, in order; bad lines get an answer too."""
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").strip()
        try:
            item = json.loads(line)
            text = item["text"] if isinstance(item, dict) and isinstance(item.get("text"), str) else None
        except ValueError:
            item, text = None, None
        if text is None:
            out.write(json.dumps({"intent": FALLBACK, "confidence": 0.0, "lang": None,
                                  "error": 'expected {"text": "...", "lang": "xx"}'}) + "\n")
            out.flush()
            continue
        parsed = await parser.parse(text)
        lang = item.get("lang") if isinstance(item.get("lang"), str) else parser.language(text)
        out.write(json.dumps({"intent": parsed["intent"], "confidence": parsed["confidence"],
                              "lang": lang}, ensure_ascii=False) + "\n")
        out.flush()


def run_parse(parser: Parser, lines: Iterable[bytes], out: IO[str]) -> None:
    asyncio.run(parse_lines(parser, lines, out))
