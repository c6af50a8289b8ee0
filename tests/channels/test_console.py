"""`kyr chat --script`, as a process: JSON lines in, JSON lines out, state kept on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.terminal.channel import parse_script_line
from bot.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_URL, postgres_reason

KYR = [sys.executable, "-m", "bot"]


def run_script(data_dir: Path, lines: bytes, *args: str, database_url: str | None = None) -> list[dict]:
    env = dict(os.environ, KYR_DATA_DIR=str(data_dir), KYR_SECRET_KEY=f"console-test-{data_dir}")
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(KYR + ["chat", "--script", "-", *args], input=lines, env=env,
                          cwd=PROJECT_ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out = done.stdout.decode("utf-8")
    return [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON


def test_parse_script_line_never_raises() -> None:
    assert parse_script_line(b"", "u") == ("u", None)
    user, message = parse_script_line(b'{"text": "hi", "user": "a"}', "u")
    assert user == "a" and message is not None and message.text == "hi"
    user, message = parse_script_line(b'{"button": "/menu"}', "u")
    assert message is not None and message.payload == "/menu"
    for junk in (b"not json", b"[1, 2]", b"\xff\xfe\xfa", b'{"text": 5}', b"null"):
        user, message = parse_script_line(junk, "u")
        assert user == "u" and message is not None and message.text == ""


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_script_mode_persists_across_restarts_and_survives_bad_lines(trained, tmp_path: Path, database: str) -> None:  # type: ignore[no-untyped-def]
    url = None
    if database == "postgres":
        reason = postgres_reason()
        if reason:
            pytest.skip(reason)
        url = POSTGRES_URL
    first = run_script(tmp_path, b'{"text": "hi", "user": "ana"}\n'
                                 b'{"button": "main_menu:menu>@ice_at_door", "user": "ana"}\n'
                                 b'{"text": "hola", "user": "ben"}\n', database_url=url)
    assert {m["user"] for m in first} == {"ana", "ben"}
    last_ana = [m for m in first if m["user"] == "ana"][-1]
    assert (last_ana["flow"], last_ana["step"]) == ("ice_at_door", "ask_now")
    assert set(last_ana) == {"user", "text", "buttons", "lang", "flow", "step"}
    # A new process: ana continues at the question she was asked; bad lines get answers.
    second = run_script(tmp_path, b'{"text": "yes", "user": "ana"}\n'
                                  b'\xff\xfe not utf-8 \xc3\x28\n'
                                  b'{"text": "\\u0000\\u0007"}\n', database_url=url)
    ana = [m for m in second if m["user"] == "ana"]
    steps = [m["step"] for m in ana]
    assert ana[0]["flow"] == "ice_at_door" and "ask_signed" in steps
    # Agents at the door now: what to do, where she stands with the hotline, the question.
    assert steps == ["at_door", "handoff_urgent", "ask_signed"]
    assert ana[-1]["buttons"][-1]["payload"] == "/stop"
    local = [m for m in second if m["user"] == "local"]
    assert local, "invalid input still gets an answer"


def test_lang_option_starts_in_that_language(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_script(tmp_path, b'{"text": "/menu"}\n', "--lang", "es")
    assert out[0]["step"] == "greeting" and out[-1]["flow"] == "main_menu"
    assert all(m["lang"] == "es" for m in out)
    assert out[0]["text"].startswith("Hola")  # Spanish text, not the English fallback


@pytest.mark.parametrize("fmt", ["mermaid", "svg"])
def test_flows_graph(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"graph.{fmt}"
    done = subprocess.run(KYR + ["flows", "graph", "ice_at_door", "--format", fmt, "-o", str(target)],
                          cwd=PROJECT_ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    if fmt == "mermaid":
        assert text.startswith("flowchart TD") and "ice_at_door__ask_now" in text
        assert '-->|"Yes"|' in text
    else:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(text)
        assert root.tag.endswith("svg") and "ask_now" in text


def test_flows_graph_unknown_flow_is_a_clear_error() -> None:
    done = subprocess.run(KYR + ["flows", "graph", "nope"], cwd=PROJECT_ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 2 and b"no flow 'nope'" in done.stderr


def test_content_check_exit_codes(project_copy: Path) -> None:
    env = dict(os.environ, KYR_HOME=str(project_copy))
    ok = subprocess.run(KYR + ["content", "check"], env=env, capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stdout
    (project_copy / "flows" / "help.yml").write_text("id: help\ntitle: help.title\nsteps:\n"
                                                     "  - id: a\n    say: help.missing\n")
    bad = subprocess.run(KYR + ["content", "check"], env=env, capture_output=True, timeout=120)
    assert bad.returncode == 1
    assert b"flows/help.yml:4: error: message 'help.missing' is not defined" in bad.stdout


def test_script_mode_in_every_language(services, trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One process, eight residents: picker, a flow answered by typing, fallback, a switch.

    They answer "no" (agents are not there now): "yes" would open a ticket for the hotline,
    and what they type next would go to staff (tests/handoff covers that)."""
    langs = ["en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk"]
    lines = []
    for lang in langs:
        no = services.renderer.label(lang, "ui.no")
        lines += [{"text": "/start", "user": lang}, {"button": f"/lang {lang}", "user": lang},
                  {"button": "main_menu:menu>@ice_at_door", "user": lang},
                  {"text": no.upper(), "user": lang}, {"text": "qwzx vbnm qwzx", "user": lang}]
    lines.append({"text": "la migra esta en mi puerta que hago ahora", "user": "en"})
    out = run_script(tmp_path, "\n".join(json.dumps(line) for line in lines).encode() + b"\n")
    for lang in langs:
        mine = [m for m in out if m["user"] == lang]
        steps = [m["step"] for m in mine]
        assert steps[:2] == ["greeting", "pick"], (lang, steps)
        fallbacks = [m for m in mine if m["text"] == services.renderer.text(lang, "ui.fallback")]
        assert "disclaimer" in steps and "prepare" in steps and len(fallbacks) == 1, steps
        assert fallbacks[0]["step"] == "prepare"  # re-offers the step it waits at
        after_choice = mine[steps.index("pick") + 1:]
        if lang == "en":
            after_choice = after_choice[:-2]  # the last two answer the Spanish line below
        assert {m["lang"] for m in after_choice} == {lang}, (lang, steps)
    switched = [m for m in out if m["user"] == "en"][-2:]
    assert [m["lang"] for m in switched] == ["es", "es"] and switched[-1]["flow"] == "ice_at_door"
