"""Catalogs are checked, not trusted; the extractor takes every string exactly once."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract
from hypothesis import given, settings as hsettings, strategies as st

from bot.catalogs import tools
from bot.catalogs.checks import check_all, live_languages
from bot.catalogs.extract import extract_yaml
from bot.settings import PROJECT_ROOT

KYR = [sys.executable, "-m", "bot"]


def edit_po(project: Path, lang: str, key: str, change) -> None:  # type: ignore[no-untyped-def]
    """Change one translation (msgstr of context `key`) through Babel's catalog model."""
    from babel.messages.pofile import write_po

    po = tools.po_path(project, lang)
    catalog = tools.read_catalog(po)
    message = next(m for m in catalog if m.context == key)
    message.string = change(message.string)
    with open(po, "wb") as out:
        write_po(out, catalog)


def errors(project: Path) -> list[str]:
    return [str(p) for p in check_all(project) if p.severity == "error"]


def test_shipped_catalogs_pass_and_all_languages_go_live() -> None:
    assert errors(PROJECT_ROOT) == []
    live, dropped = live_languages(PROJECT_ROOT, ("en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk"))
    assert dropped == {} and len(live) == 8


def test_placeholder_mismatch_long_button_and_broken_po(project_copy: Path) -> None:
    edit_po(project_copy, "es", "ice_at_door.prepare",
            lambda s: s.replace("{icirr_hotline.phone}", "{icirr_hotline.fone}"))
    edit_po(project_copy, "pl", "ui.yes", lambda s: "Tak, oczywiście, na pewno tak")
    found = errors(project_copy)
    assert any("locales/es/LC_MESSAGES/messages.po" in m and "placeholders" in m for m in found)
    assert any("locales/pl/" in m and "button label has" in m for m in found)
    live, dropped = live_languages(project_copy, ("en", "es", "pl", "fr"))
    assert live == ("en", "fr") and set(dropped) == {"es", "pl"}


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) not installed")
def test_msgfmt_check_rejects_a_broken_catalog(project_copy: Path) -> None:
    po = tools.po_path(project_copy, "fr")
    po.write_text(po.read_text(encoding="utf-8").replace('msgid "Yes"\n', 'msgid "Yes"\nmsgid "Oui"\n', 1),
                  encoding="utf-8")
    assert any("msgfmt --check" in m for m in errors(project_copy))


def test_stale_template_is_an_error(project_copy: Path) -> None:
    ui = project_copy / "content" / "ui.yml"
    ui.write_text(ui.read_text().replace('text: "Main menu"', 'text: "Menu"', 1))
    assert any("messages.pot" in m and "out of date" in m for m in errors(project_copy))


def test_update_marks_changed_english_fuzzy_and_coverage_counts_it(project_copy: Path) -> None:
    ui = project_copy / "content" / "ui.yml"
    ui.write_text(ui.read_text().replace('text: "Main menu"', 'text: "Main menu, please"', 1))
    tools.extract(project_copy)
    tools.update(project_copy, ["es"])
    c = tools.coverage(project_copy, "es")
    assert c.fuzzy == 1 and c.translated == c.total - 1 and c.reviewed == 0
    assert c.review_state.startswith("draft")
    table = tools.coverage_table(project_copy, ["es"])
    assert "| es Español |" in table and "| 1 |" in table


def test_reviewed_entries_are_counted(project_copy: Path) -> None:
    po = tools.po_path(project_copy, "uk")
    text = po.read_text(encoding="utf-8")
    text = text.replace('#. key: ui.yes (in content/ui.yml)', '# reviewed-by: Olena, 2026-11-30\n'
                        '#. key: ui.yes (in content/ui.yml)', 1)
    po.write_text(text, encoding="utf-8")
    assert tools.coverage(project_copy, "uk").reviewed == 1


KEYS = st.from_regex(r"[a-z]{1,8}\.[a-z_]{1,10}", fullmatch=True)
TEXTS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60) \
    .map(str.strip).filter(bool)


@hsettings(max_examples=50, deadline=None)
@given(st.dictionaries(KEYS, TEXTS, min_size=1, max_size=12))
def test_extractor_takes_every_string_exactly_once(entries: dict[str, str]) -> None:
    document = {"review": {"status": "draft", "due": "2027-01-15"},
                "texts": {k: {"text": v, "legal": False} for k, v in entries.items()}}
    data = yaml.safe_dump(document, allow_unicode=True).encode()
    found = list(extract(extract_yaml, io.BytesIO(data)))
    pairs = [(m[3], m[1]) for m in found]  # (context, msgid)
    assert sorted(pairs) == sorted(entries.items())
    assert len(pairs) == len(set(pairs))


def test_translation_is_live_within_two_seconds_of_compile(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A running `kyr chat --script` picks up `kyr i18n compile` without restart or retraining."""
    home = tmp_path / "home"
    for name in ("flows", "content", "locales"):
        shutil.copytree(PROJECT_ROOT / name, home / name)
    shutil.copy(PROJECT_ROOT / "babel.cfg", home / "babel.cfg")
    env = dict(os.environ, KYR_HOME=str(home), KYR_DATA_DIR=str(tmp_path / "data"),
               KYR_MODEL_DIR=str(trained.parent), KYR_SECRET_KEY="reload-test")
    chat = subprocess.Popen(KYR + ["chat", "--script", "-"], env=env, cwd=PROJECT_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    try:
        import json

        def ask(line: str) -> list[str]:
            """Send one turn; read messages up to the one with buttons (the last of a turn)."""
            assert chat.stdin is not None and chat.stdout is not None
            chat.stdin.write(line + "\n")
            chat.stdin.flush()
            lines = []
            while not lines or not json.loads(lines[-1])["buttons"]:
                lines.append(chat.stdout.readline())
                assert lines[-1], "kyr chat ended early"
            return lines

        def compile_and_titles() -> list[str]:
            """`kyr i18n compile`, wait two seconds, and read the button titles of /help."""
            subprocess.run(KYR + ["i18n", "compile", "--lang", "es"], env=env, cwd=PROJECT_ROOT,
                           check=True, capture_output=True)
            time.sleep(2.0)
            return [b["title"] for line in ask('{"text": "/help"}') for b in json.loads(line)["buttons"]]

        first = ask('{"text": "/lang es"}')
        assert json.loads(first[-1])["lang"] == "es"
        edit_po(home, "es", "ui.main_menu", lambda s: "Menú inicial")
        titles = compile_and_titles()
        assert "Menú inicial" in titles, titles
        # A broken catalog compiled while running is not loaded: the good one stays live.
        edit_po(home, "es", "ice_at_door.prepare",
                lambda s: s.replace("{icirr_hotline.phone}", "{icirr_hotline.fone}"))
        edit_po(home, "es", "ui.main_menu", lambda s: "Menú roto")
        titles = compile_and_titles()
        assert "Menú inicial" in titles and "Menú roto" not in titles, titles
    finally:
        chat.kill()
        chat.wait()
