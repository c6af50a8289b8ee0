"""Review state, sources and contacts as `kyr content check` sees them (broken copies of the
real files), the Arabic bracket isolation, and what residents see in each publishing mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.problems import StartupError

from bot.core.check import is_index_page, review_summary, run_check
from bot.core.content import load_content
from bot.core.i18n import LRI, PDI
from bot.core.render import isolate_latin, publish_mode
from bot.settings import PROJECT_ROOT

KYR = [sys.executable, "-m", "bot"]


def problems(home: Path) -> tuple[list[str], list[str]]:
    found = run_check(home)
    return ([str(p) for p in found if p.severity == "error"],
            [str(p) for p in found if p.severity == "warning"])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_shipped_review_state_is_draft_with_points_to_verify() -> None:
    content, found = load_content(PROJECT_ROOT / "content", PROJECT_ROOT)
    assert [p for p in found if p.severity == "error"] == []
    reviews = {t.review for t in content.texts.values() if t.review is not None}
    assert reviews and all(r.status == "draft" and r.by is None and r.date is None for r in reviews)
    assert sum(len(r.to_verify) for r in reviews) >= 20
    table = review_summary(content)
    assert "| content/ice_at_door.yml | draft |" in table
    assert table.splitlines()[-1].split("|")[4].strip() == "0"  # no legal text reviewed yet
    _, warnings = problems(PROJECT_ROOT)
    assert any("ice_at_door.yml:2: warning: to_verify: ICE I-205 memo" in w for w in warnings)
    assert any("draft: 8 legal text(s) that no lawyer has reviewed" in w for w in warnings)


def test_old_review_dates_and_half_reviews_are_errors(project_copy: Path) -> None:
    door = project_copy / "content" / "ice_at_door.yml"
    edit(door, "  status: draft ", "  reviewed: 2026-11-22\n  status: draft ")
    silent = project_copy / "content" / "remain_silent.yml"
    edit(silent, "  status: draft ", "  status: lawyer_reviewed ")
    work = project_copy / "content" / "workplace_raid.yml"
    edit(work, "  due: 2027-01-15", "  due: soon")
    errors, _ = problems(project_copy)
    assert any("ice_at_door.yml:2: error: review uses reviewed" in e for e in errors), errors
    assert any("remain_silent.yml:2: error: status lawyer_reviewed needs by" in e for e in errors)
    assert any("workplace_raid.yml:2: error: review needs due" in e for e in errors)


def test_a_lawyer_review_is_counted_and_overdue_reviews_warn(project_copy: Path) -> None:
    silent = project_copy / "content" / "remain_silent.yml"
    edit(silent, "  status: draft ", "  status: lawyer_reviewed ")
    edit(silent, "  by: ", "  by: A. Lawyer (NIJC) ")
    edit(silent, "  date: ", "  date: 2026-12-01 ")
    edit(silent, "  due: 2027-01-15", "  due: 2026-06-01")
    content, _ = load_content(project_copy / "content", project_copy)
    row = next(r for r in review_summary(content).splitlines() if "remain_silent" in r)
    assert "lawyer_reviewed (A. Lawyer (NIJC), 2026-12-01) | 4 | 4 |" in row
    _, warnings = problems(project_copy)
    assert any("remain_silent.yml:2: warning: lawyer review was due on 2026-06-01" in w
               for w in warnings)
    assert not any("remain_silent.yml" in w and "draft:" in w for w in warnings)


def test_sources_need_kind_and_checked_and_index_pages_warn(project_copy: Path) -> None:
    sources = project_copy / "content" / "sources.yml"
    edit(sources, "    kind: primary\n    checked: not yet\n", "    checked: not yet\n")  # us_const_4th
    edit(sources, "    kind: secondary\n    checked: 2026-12-01\n", "    kind: secondary\n")
    errors, warnings = problems(project_copy)
    assert any("source 'us_const_4th' needs kind" in e for e in errors), errors
    assert any("source 'icirr_hotline_launch_2011' needs checked" in e for e in errors)
    assert any("source 'nilc_workplace' points at an index or home page" in w for w in warnings)
    assert any("source 'ilrc_red_cards': nobody has recorded opening it" in w for w in warnings)
    # canned.lawyer cites only NIJC's (secondary) page
    assert any("'canned.lawyer' is a legal statement with only secondary sources" in w
               for w in warnings)


def test_index_page_rule() -> None:
    assert is_index_page("https://www.icirr.org/")
    assert is_index_page("https://www.nilc.org/resources/")
    assert is_index_page("https://www.ilga.gov/legislation/ilcs/ilcs5.asp?ActID=1815")
    assert not is_index_page("https://lrb.ilga.gov/legislation/ilcs/documents/070500960K10-15.htm")
    assert not is_index_page("https://staging.documentedny.com/?p=60025")


def test_contacts_need_languages_and_a_page_to_be_confirmed(project_copy: Path) -> None:
    contacts = project_copy / "content" / "contacts.yml"
    edit(contacts, "    languages: [en, es]\n    tags: [hotline", "    tags: [hotline")
    edit(contacts, "    status: unconfirmed\n  nijc:", "    status: confirmed\n  nijc:")
    edit(contacts, "languages: [pl, en]", "languages: [pl, xx]")
    edit(contacts, '    confirmed: {page: "https://www.justice.gov/eoir/customer-service-initiatives", '
                   'date: 2026-12-01}\n', "")
    errors, warnings = problems(project_copy)
    assert any("contact 'icirr_hotline' needs languages" in e for e in errors), errors
    assert any("contact 'icirr_hotline' is confirmed without confirmed:" in e for e in errors)
    assert any("contact 'eoir_case_line' is confirmed without confirmed:" in e for e in errors)
    assert any("'polish_american_association': unknown language code(s) xx" in e for e in errors)
    assert any("contact 'rapid_response' is a placeholder" in w for w in warnings)


def test_arabic_isolates_the_whole_bracketed_english(services) -> None:  # type: ignore[no-untyped-def]
    """The phrase a resident says to agents keeps its brackets and order on an RTL phone."""
    text = services.renderer.text("ar", "remain_silent.intro")
    assert f"{LRI}(I want to remain silent.){PDI}" in text
    assert f"{LRI}(I want to speak to a lawyer.){PDI}" in text
    two = isolate_latin("قل: «…» (I want to remain silent. I want to speak to a lawyer.) ثم")
    assert two == f"قل: «…» {LRI}(I want to remain silent. I want to speak to a lawyer.){PDI} ثم"
    mixed = isolate_latin("(قاضي هجرة) و (Immigration Judge) ICE")
    assert mixed == f"(قاضي هجرة) و {LRI}(Immigration Judge){PDI} {LRI}ICE{PDI}"


def test_publish_mode_is_checked() -> None:
    assert publish_mode({}) == "drafts"
    assert publish_mode({"KYR_PUBLISH": "reviewed-only"}) == "reviewed-only"
    with pytest.raises(StartupError):
        publish_mode({"KYR_PUBLISH": "reviewed_only"})


def _script(home: Path, trained: Path, data: Path, mode: str, lines: list[dict]) -> list[dict]:
    env = dict(os.environ, KYR_HOME=str(home), KYR_DATA_DIR=str(data),
               KYR_MODEL_DIR=str(trained.parent), KYR_SECRET_KEY="publish-test",
               KYR_PUBLISH=mode)
    done = subprocess.run(KYR + ["chat", "--script", "-"], env=env, cwd=PROJECT_ROOT,
                          input="".join(json.dumps(line) + "\n" for line in lines).encode(),
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def test_publishing_both_modes_end_to_end(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    for name in ("flows", "content", "locales"):
        shutil.copytree(PROJECT_ROOT / name, home / name)
    shutil.copy(PROJECT_ROOT / "babel.cfg", home / "babel.cfg")
    # A reviewer signs the Spanish "do not sign" text, and only that one.
    po = home / "locales" / "es" / "LC_MESSAGES" / "messages.po"
    edit(po, 'msgctxt "remain_silent.dont_sign"', '# reviewed-by: R. Revisora, 2026-12-01\n'
                                                  'msgctxt "remain_silent.dont_sign"')
    subprocess.run(KYR + ["i18n", "compile", "--lang", "es"], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, env=dict(os.environ, KYR_HOME=str(home)))
    turns = [{"text": "/lang es"}, {"button": "main_menu:menu>@remain_silent"}]
    spanish_intro = "Diga en voz alta"
    english_intro = 'Say out loud: "I want to remain silent."'
    pending = "Pronto habrá una traducción revisada de esto. Aquí está en inglés:"
    drafts_line = "Las traducciones en su idioma son borradores"

    drafts = _script(home, trained, tmp_path / "d", "drafts", turns)
    texts = "\n".join(m["text"] for m in drafts)
    assert drafts_line in texts and texts.count(drafts_line) == 1
    assert spanish_intro in texts and pending not in texts

    reviewed = _script(home, trained, tmp_path / "r", "reviewed-only", turns)
    texts = "\n".join(m["text"] for m in reviewed)
    assert drafts_line not in texts
    intro = next(m["text"] for m in reviewed if m["step"] == "intro" and m["flow"] == "remain_silent")
    assert intro.startswith(pending + "\n" + english_intro), intro
    # Buttons and the bot's own words stay in Spanish; the signed legal text is in Spanish.
    assert all(m["lang"] == "es" for m in reviewed)
    taps = [{"button": "remain_silent:intro>what_refuse"},
            {"button": "remain_silent:what_refuse>dont_lie"},
            {"button": "remain_silent:dont_lie>dont_sign"}]
    signed = _script(home, trained, tmp_path / "s", "reviewed-only", turns + taps)
    by_step = {m["step"]: m["text"] for m in signed if m["flow"] == "remain_silent"}
    assert by_step["dont_lie"].startswith(pending + "\nDo not lie."), by_step["dont_lie"]
    assert by_step["dont_sign"].startswith("Usted puede negarse a firmar"), by_step["dont_sign"]
    labels = [b["title"] for m in signed for b in m["buttons"]]
    assert "Menú principal" in labels
