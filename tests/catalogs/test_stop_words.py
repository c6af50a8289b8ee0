"""STOP words in every catalog: what the alerts tell residents to send really stops them, and
no other button of any language is a STOP word (a whole message that equals one stops a
subscriber's alerts at any step, so a collision would unsubscribe someone by accident)."""

from __future__ import annotations

from functools import lru_cache

import pytest
from babel.messages.pofile import read_po

from bot.catalogs import tools
from bot.core import alerts
from bot.core.content import require_content
from bot.core.dialogue import Dialogue
from bot.core.flows import require_flows
from bot.core.languages import NATIVE_NAMES
from bot.settings import PROJECT_ROOT

CONTENT = require_content(PROJECT_ROOT / "content")
LANGUAGES = tuple(tools.catalog_languages(PROJECT_ROOT))
# The word each language's alerts name for stopping ("To stop alerts: BAJA or STOP").
NAMED = {"es": "BAJA", "pl": "STOP", "zh_Hans": "停止", "ar": "توقف", "fr": "ARRÊT",
         "ht": "SISPANN", "uk": "СТОП", "ru": "СТОП", "tl": "TIGIL", "ko": "중지", "hi": "बंद",
         "ur": "بند", "gu": "બંધ"}
STOP_LABELS = {"alerts.title_stop", "alerts.opt_stop"}


@lru_cache(maxsize=None)
def translations(lang: str) -> dict[str, str]:
    """Translated, non-fuzzy strings of one catalog by content key (the .po, not a .mo)."""
    catalog = tools.read_catalog(tools.po_path(PROJECT_ROOT, lang))
    return {str(m.context): str(m.string) for m in catalog
            if m.context and isinstance(m.string, str) and m.string and not m.fuzzy}


def label(lang: str, key: str) -> str:
    """The translation, or the English where there is none (as the renderer falls back)."""
    if lang != "en" and key in translations(lang):
        return translations(lang)[key]
    return CONTENT.texts[key].text


@pytest.fixture(scope="module")
def dialogue() -> Dialogue:
    return Dialogue(require_flows(PROJECT_ROOT / "flows"), label, ("en", *LANGUAGES), NATIVE_NAMES)


def test_every_catalog_names_its_stop_word() -> None:
    assert set(NAMED) == set(LANGUAGES)


@pytest.mark.parametrize("lang", sorted(NAMED))
def test_stop_words_are_translated_and_keep_stop(lang: str) -> None:
    words = [w.strip() for w in translations(lang)[alerts.STOP_WORDS].split(",")]
    english = {w.strip() for w in CONTENT.texts[alerts.STOP_WORDS].text.split(",")}
    assert "stop" in words
    assert set(words) - english, "no word of the language itself"


@pytest.mark.parametrize("lang", sorted(NAMED))
def test_the_word_the_alerts_name_stops_them(dialogue: Dialogue, lang: str) -> None:
    word = NAMED[lang]
    for key in (*alerts.ALERT_TEMPLATES, "alerts.confirm"):
        assert word in translations(lang)[key], key
    assert dialogue.is_stop_word(word) and dialogue.is_stop_word(word.lower())
    assert dialogue.is_stop_word(label(lang, "alerts.opt_stop"))


def test_no_other_button_of_any_language_is_a_stop_word(dialogue: Dialogue) -> None:
    with open(tools.pot_path(PROJECT_ROOT), "rb") as handle:
        template = read_po(handle)
    labels = [str(m.context) for m in template
              if m.context and any("button label" in c for c in m.auto_comments)]
    assert len(labels) > 50
    hits = [(lang, key, label(lang, key)) for lang in ("en", *LANGUAGES) for key in labels
            if key not in STOP_LABELS and dialogue.is_stop_word(label(lang, key))]
    assert hits == []
