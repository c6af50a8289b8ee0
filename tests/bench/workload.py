"""The workload both bots get, and the numbers one child process reports back."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

HELDOUT = Path(__file__).resolve().parents[1] / "data" / "nlu_heldout.jsonl"
MODES = ("button", "text", "parse")  # parse: NLU only (kyr parse), no dialogue or storage


@dataclass(frozen=True)
class Workload:
    conversations: int = 200
    messages: int = 10  # per conversation and per mode
    seed: int = 7
    rounds: int = 5  # each mode's messages in this many rounds, the two bots alternating

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.messages % self.rounds:
            raise ValueError(f"{self.messages} messages do not split into {self.rounds} rounds")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> "Workload":
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class ModeResult:
    messages: int
    seconds: float  # wall time of the whole phase
    latencies_ms: list[float]  # one per handle call
    empty_replies: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @classmethod
    def joined(cls, rounds: list["ModeResult"]) -> "ModeResult":
        """One mode's rounds as one: their messages, wall times and latencies added up."""
        return cls(sum(r.messages for r in rounds), sum(r.seconds for r in rounds),
                   [ms for r in rounds for ms in r.latencies_ms],
                   sum(r.empty_replies for r in rounds))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, p in (0, 100]."""
        ordered = sorted(self.latencies_ms)
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]


@dataclass(frozen=True)
class ChildResult:
    modes: dict[str, ModeResult]
    peak_rss_mb: float
    cold_start_s: float = 0.0  # filled in by the parent
    relay_ms: list[float] = field(default_factory=list)  # staff reply -> channel send (ours only)

    def relay(self, p: float) -> float:
        return ModeResult(len(self.relay_ms), 1.0, self.relay_ms, 0).percentile(p) \
            if self.relay_ms else float("nan")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> "ChildResult":
        data = json.loads(raw)
        modes = {name: ModeResult(**mode) for name, mode in data.pop("modes").items()}
        return cls(modes=modes, **data)


def heldout() -> list[dict[str, str]]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def heldout_phrases(seed: int) -> list[str]:
    """Every held-out NLU text, all languages, in one seeded shuffled order."""
    phrases = [row["text"] for row in heldout()]
    random.Random(seed).shuffle(phrases)
    return phrases
