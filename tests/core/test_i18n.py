"""Babel is the one path for text: catalogs translate by key, English fills any gap."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bot.core.content import require_content
from bot.core.dialogue import Dialogue
from bot.core.flows import require_flows
from bot.core.i18n import LRI, PDI, Catalogs, format_hours, isolate, normalise
from bot.core.languages import NATIVE_NAMES
from bot.core.render import Renderer
from bot.settings import PROJECT_ROOT

WORDS = {"always": "every day, 24 hours", "all_day": "24 hours", "closed": "closed"}


def compile_catalog(locales: Path, lang: str, entries: dict[tuple[str, str], str]) -> None:
    catalog = Catalog(locale=lang)
    for (key, source), text in entries.items():
        catalog.add(source, text, context=key)
    folder = locales / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "messages.mo", "wb") as out:
        write_mo(out, catalog)


def renderer(locales: Path, languages: tuple[str, ...]) -> Renderer:
    content = require_content(PROJECT_ROOT / "content")
    flows = require_flows(PROJECT_ROOT / "flows")
    holder: list[Renderer] = []
    dialogue = Dialogue(flows, lambda lang, key: holder[0].label(lang, key), languages, NATIVE_NAMES)
    holder.append(Renderer(content, Catalogs(locales, languages), dialogue))
    return holder[0]


def test_translation_by_key_with_english_fallback(tmp_path: Path) -> None:
    content = require_content(PROJECT_ROOT / "content")
    compile_catalog(tmp_path, "es", {
        ("ui.fallback", content.text("ui.fallback")): "Perdón, no entendí.",
        ("ice_at_door.prepare", content.text("ice_at_door.prepare")):
            "Llame a {icirr_hotline.name} al {icirr_hotline.phone}.",
    })
    r = renderer(tmp_path, ("en", "es"))
    assert r.text("es", "ui.fallback") == "Perdón, no entendí."
    # Untranslated: English; and since a legal text (the hotline) has an unreviewed Spanish
    # draft, the greeting says once that drafts are shown (KYR_PUBLISH=drafts, the default).
    assert r.text("es", "ui.greeting") == (content.text("ui.greeting") + "\n\n"
                                          + content.text("ui.drafts_notice"))
    assert "+1 855-435-7693" in r.text("es", "ice_at_door.prepare")
    assert r.text("en", "ui.fallback") == content.text("ui.fallback")


def test_a_stale_translation_is_not_used(tmp_path: Path) -> None:
    """The msgid is the English source: after an English edit the old translation is ignored."""
    compile_catalog(tmp_path, "es", {("ui.fallback", "an older English text"): "Texto viejo"})
    r = renderer(tmp_path, ("en", "es"))
    assert r.text("es", "ui.fallback") != "Texto viejo"


def test_broken_placeholder_in_a_translation_falls_back(tmp_path: Path) -> None:
    content = require_content(PROJECT_ROOT / "content")
    compile_catalog(tmp_path, "es", {
        ("ice_at_door.prepare", content.text("ice_at_door.prepare")): "Llame {nadie.phone}",
    })
    r = renderer(tmp_path, ("en", "es"))
    assert "+1 855-435-7693" in r.text("es", "ice_at_door.prepare")


def test_hours_follow_the_locale() -> None:
    weekdays = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    hours = {**weekdays, "sat": "closed", "sun": "closed"}
    assert format_hours(hours, "en", WORDS) == "Mon\u2013Fri 9:00\u202fAM\u20135:00\u202fPM"
    assert format_hours(hours, "es", WORDS).startswith("lun\u2013vie 9:00")
    assert format_hours({d: "24h" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                        "en", WORDS) == "every day, 24 hours"


def test_rtl_isolation_and_matching() -> None:
    assert isolate("+1 312-660-1370", "ar") == f"{LRI}+1 312-660-1370{PDI}"
    assert isolate("+1 312-660-1370", "es") == "+1 312-660-1370"
    assert normalise("  Sí, ¡CLARO!  ") == "si claro"


def test_plurals_follow_each_language_rules(tmp_path: Path) -> None:
    """Polish has three plural forms; English two; numbers are written as the locale does."""
    import shutil

    from bot.core.content import require_content

    home = tmp_path / "home"
    shutil.copytree(PROJECT_ROOT / "content", home / "content")
    (home / "content" / "queue.yml").write_text(
        "review: {status: draft, due: 2027-01-15}\n"
        "texts:\n  queue.ahead:\n    text: \"One person is ahead of you.\"\n"
        "    plural: \"{count} people are ahead of you.\"\n")
    catalog = Catalog(locale="pl")
    catalog.add(("One person is ahead of you.", "{count} people are ahead of you."),
                ("Jedna osoba jest przed tobą.", "{count} osoby są przed tobą.",
                 "{count} osób jest przed tobą."), context="queue.ahead")
    folder = tmp_path / "locales" / "pl" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as out:
        write_mo(out, catalog)
    content = require_content(home / "content")
    flows = require_flows(PROJECT_ROOT / "flows")
    holder: list[Renderer] = []
    dialogue = Dialogue(flows, lambda lang, key: holder[0].label(lang, key), ("en", "pl"), NATIVE_NAMES)
    r = Renderer(content, Catalogs(tmp_path / "locales", ("en", "pl")), dialogue)
    holder.append(r)
    assert r.text_n("pl", "queue.ahead", 1) == "Jedna osoba jest przed tobą."
    assert r.text_n("pl", "queue.ahead", 3) == "3 osoby są przed tobą."
    assert r.text_n("pl", "queue.ahead", 5) == "5 osób jest przed tobą."
    assert r.text_n("pl", "queue.ahead", 1200) == "1200 osób jest przed tobą." or \
        r.text_n("pl", "queue.ahead", 1200).startswith("1\u00a0200")
    assert r.text_n("en", "queue.ahead", 1) == "One person is ahead of you."
    assert r.text_n("en", "queue.ahead", 1200) == "1,200 people are ahead of you."


def test_extractor_gives_plurals_as_npgettext() -> None:
    import io

    from babel.messages.extract import extract

    from bot.catalogs.extract import extract_yaml

    data = (b"texts:\n  queue.ahead:\n    text: One person\n    plural: \"{count} people\"\n")
    found = list(extract(extract_yaml, io.BytesIO(data)))
    assert found[0][1] == ("One person", "{count} people") and found[0][3] == "queue.ahead"


def test_normalise_keeps_indic_vowel_signs_and_folds_latin_accents() -> None:
    from bot.core.i18n import normalise

    assert normalise("मदद करो!") == "मदद करो"  # vowel signs and virama are part of the word
    assert normalise("ખબર નથી") == "ખબર નથી"
    assert normalise("पता नहीं") != normalise("पत नह")  # "not known" is not its bare letters
    assert normalise("ÉTÉ, Está") == "ete esta"
