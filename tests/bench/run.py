"""`make bench`: this bot's engine and a stock Rasa 3.6 agent, measured in the same run.

Each bot runs in its own fresh subprocess (tests/bench/child.py) on SQLite in a temporary
folder; both are started, then each mode runs in rounds, the bots taking turns (the other
idle), so that the machine's changing speed falls on both alike. stdout gets the Markdown
table and nothing else; progress goes to stderr. The table is also written to
build/bench/latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Callable

from tests.bench.workload import MODES, ChildResult, ModeResult, Workload, heldout

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "bench"
CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "LOG_LEVEL": "WARNING",
             "RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore"}


class Child:
    """One bot in a fresh process, driven round by round over its stdin."""

    def __init__(self, kind: str, folder: Path, workload: Workload, *extra: str) -> None:
        folder.mkdir(parents=True)
        self.kind, self.log = kind, folder / "child.log"
        command = [sys.executable, "-m", "tests.bench.child", kind, str(folder),
                   workload.to_json(), *extra]
        print(f"{kind}: starting", file=sys.stderr, flush=True)
        with self.log.open("w") as err:
            started = perf_counter()
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                cwd=ROOT, env={**os.environ, **CHILD_ENV})
            self._expect("ready")
            self.cold_start = perf_counter() - started  # Popen to its first reply back
        print(f"{kind}: first reply after {self.cold_start:.1f} s", file=sys.stderr, flush=True)
        self.rounds: dict[str, list[ModeResult]] = {mode: [] for mode in MODES}

    def round(self, mode: str) -> None:
        self._tell(mode)
        self.rounds[mode].append(ModeResult(**json.loads(self._expect("round "))))

    def finish(self) -> ChildResult:
        self._tell("end")
        result = ChildResult.from_json(self._expect("result "))
        if self.process.wait() != 0:
            self._fail()
        return replace(result, cold_start_s=self.cold_start,
                       modes={mode: ModeResult.joined(r) for mode, r in self.rounds.items()})

    def _tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _expect(self, prefix: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(prefix):
            self._fail()
        return line.removeprefix(prefix)

    def _fail(self) -> None:
        self.process.kill()
        raise SystemExit(f"the {self.kind} child failed (exit {self.process.wait()}); its "
                         "stderr ends:\n" + self.log.read_text(errors="replace")[-4000:])


def alternate(ours: Child, stock: Child, workload: Workload) -> tuple[ChildResult, ChildResult]:
    """Each mode in rounds, the bots taking turns (and who goes first), the other idle."""
    for mode in MODES:
        for i in range(workload.rounds):
            print(f"{mode}: round {i + 1} of {workload.rounds}", file=sys.stderr, flush=True)
            for child in (ours, stock) if i % 2 == 0 else (stock, ours):
                child.round(mode)
    return ours.finish(), stock.finish()


Metric = Callable[[ChildResult], float]
ROWS: list[tuple[str, str, Metric]] = [
    ("button msgs/s", "{:.1f}", lambda r: r.modes["button"].rate),
    ("button p50 ms", "{:.1f}", lambda r: r.modes["button"].percentile(50)),
    ("button p99 ms", "{:.1f}", lambda r: r.modes["button"].percentile(99)),
    ("text msgs/s", "{:.1f}", lambda r: r.modes["text"].rate),
    ("text p50 ms", "{:.1f}", lambda r: r.modes["text"].percentile(50)),
    ("text p99 ms", "{:.1f}", lambda r: r.modes["text"].percentile(99)),
    ("parse p50 ms", "{:.1f}", lambda r: r.modes["parse"].percentile(50)),
    ("parse p99 ms", "{:.1f}", lambda r: r.modes["parse"].percentile(99)),
    ("relay p50 ms", "{:.1f}", lambda r: r.relay(50)),
    ("relay p99 ms", "{:.1f}", lambda r: r.relay(99)),
    ("peak RSS MB", "{:.0f}", lambda r: r.peak_rss_mb),
    ("cold start s", "{:.1f}", lambda r: r.cold_start_s),
]


def table(ours: ChildResult, stock: ChildResult) -> str:
    lines = ["| metric | this bot | stock Rasa 3.6 | ratio (this bot / stock) |",
             "|---|---:|---:|---:|"]
    for name, fmt, metric in ROWS:
        a, b = metric(ours), metric(stock)
        ratio = f"{a / b:.2f}" if b and b == b else "n/a"  # b != b: NaN, not measured
        shown = [fmt.format(v) if v == v else "n/a" for v in (a, b)]
        lines.append(f"| {name} | {shown[0]} | {shown[1]} | {ratio} |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def facts(workload: Workload, ours: ChildResult, stock: ChildResult) -> str:
    w = workload
    per_mode = w.conversations * w.messages
    rows = heldout()
    languages = ", ".join(sorted({row["lang"] for row in rows}))
    empty = "; ".join(f"{name}: " + ", ".join(f"{m.empty_replies} of {m.messages} {mode}"
                                              for mode, m in r.modes.items())
                      for name, r in (("this bot", ours), ("stock", stock)))
    return "\n".join([
        f"- machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, "
        f"Python {platform.python_version()}, Rasa {version('rasa')}, {platform.platform()}",
        f"- workload per bot and per mode: {w.conversations} concurrent conversations "
        f"(asyncio tasks on one event loop) x {w.messages} messages each, one after another "
        f"= {per_mode} button presses, then {per_mode} free-text messages, in fresh "
        f"conversations each mode; seed {w.seed}",
        "- button presses: the first opens the menu (this bot: `/menu`, stock: `/greet`), then "
        "a random button from the last reply; stock presses skip NLU via `parse_data`",
        f"- free text: the {len(rows)} phrases of tests/data/nlu_heldout.jsonl ({languages}), "
        "in one seeded order, the same for both bots",
        f"- each bot in its own fresh subprocess, both started, then each mode in {w.rounds} "
        f"rounds of {w.messages // w.rounds} messages a conversation, the bots taking turns "
        "(the other idle; who goes first alternates); SQLite database in a "
        "temporary folder (this bot: its default store; stock: Rasa's SQLTrackerStore); "
        "stock: the same featurizers, data and fallback threshold with Rasa's own tokenizer and "
        "classifier (WhitespaceTokenizer, LogisticRegressionClassifier), RulePolicy only, one "
        "response per intent",
        "- latency = one handle call under the full concurrency; msgs/s = messages / the "
        "mode's rounds' wall time added up; peak RSS = ru_maxrss of the child; cold start = "
        "process start to first reply (measured by the parent)",
        f"- replies with no message: {empty} (this bot: a text that asks for a person opens a "
        "ticket, and that conversation's next texts go to staff, so the bot stays quiet)",
        f"- relay (this bot only): {len(ours.relay_ms)} staff replies from 10 logged-in staff at "
        "once, each POST /staff/tickets/N/reply through the real ASGI app (in-process httpx), "
        "timed from the POST to the channel's send call",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--conversations", type=int, default=Workload.conversations)
    parser.add_argument("--messages", type=int, default=Workload.messages,
                        help="messages per conversation and per mode")
    parser.add_argument("--seed", type=int, default=Workload.seed)
    parser.add_argument("--rounds", type=int, default=Workload.rounds,
                        help="rounds per mode, the two bots alternating (must divide --messages)")
    args = parser.parse_args(argv)
    workload = Workload(args.conversations, args.messages, args.seed, args.rounds)
    started = perf_counter()
    for key, value in CHILD_ENV.items():  # this process imports Rasa too (for PIPELINE)
        os.environ.setdefault(key, value)
    from bot.engine.training import model_path, nlu_files
    from bot.settings import load_settings
    from tests.bench.stock import ensure_model

    settings = load_settings({"KYR_HOME": str(ROOT)})
    if not model_path(settings).exists():
        raise SystemExit(f"no trained model at {model_path(settings)}: run 'kyr train' first")
    stock_model = ensure_model(nlu_files(settings), OUT / "stock")
    with tempfile.TemporaryDirectory(prefix="kyr-bench-") as tmp:
        ours, stock = alternate(Child("ours", Path(tmp) / "ours", workload),
                                Child("stock", Path(tmp) / "stock", workload, str(stock_model)),
                                workload)

    report = "\n\n".join([
        "## Benchmark: this bot vs a stock Rasa 3.6 agent", table(ours, stock),
        facts(workload, ours, stock),
        f"Whole run: {perf_counter() - started:.0f} s (stock training included if it ran).",
    ])
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.md").write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
