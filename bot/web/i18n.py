"""The console's own texts, in the staff member's language: a Babel catalog domain of its
own (locales/<lang>/LC_MESSAGES/console.po), apart from the residents' `messages` domain,
so translating the console never touches what residents read, and the residents'
catalog checks (placeholders, lengths, legal review) are not asked of console texts.

The .po is compiled in memory when first used: no build step, no .mo to forget.
`python -m bot.web.i18n` re-extracts the texts (templates and console code) into
locales/console.pot and merges them into each console.po (new ones untranslated).
"""

from __future__ import annotations

import io
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from bot.settings import PROJECT_ROOT

DOMAIN = "console"
CONSOLE_LANGUAGES = ("en", "es")  # English is the source; Spanish is a draft to review
LOCALES = PROJECT_ROOT / "locales"
HERE = Path(__file__).parent


def console_text(text: str) -> str:
    """Marks a console text for extraction where it is defined; translated where shown.
    (Not `N_`: the residents' catalog extraction would pick that up.)"""
    return text


# Words that reach the templates as values, not as literals: listed so extraction finds them.
VALUES = (
    console_text("Waiting"),
    console_text("Mine"),
    console_text("All open"),
    console_text("open"),
    console_text("claimed"),
    console_text("closed"),
    console_text("urgent"),
    console_text("normal"),
    console_text("sending"),
    console_text("sent"),
    console_text("failed"),
    console_text("resolved"),
    console_text("referred to legal help"),
    console_text("rapid response sent"),
    console_text("no reply from resident"),
    console_text("information only"),
    console_text("other"),
    console_text("opened transcript"),
    console_text("replied"),
    console_text("note"),
    console_text("transferred"),
    console_text("unclaimed"),
    console_text("handed over"),
    console_text("exported audit"),
)


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translator(lang: str) -> Any:
    """gettext for one console language; English (the msgids) when there is no catalog.
    Fuzzy entries are left out: they show in English until someone checks them."""
    path = po_path(lang)
    if lang == "en" or lang not in CONSOLE_LANGUAGES or not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def extract() -> Path:
    """Templates and console code -> locales/console.pot; merged into each console.po."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import write_po

    pot = Catalog(project="Know Your Rights bot: staff console", domain=DOMAIN)
    methods = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    keywords = {"_": None, "console_text": None, "say": (2,)}
    for filename, lineno, message, comments, context in extract_from_dir(
            HERE, methods, keywords=keywords, options_map={"**/templates/**.html": {
                "trim_blocks": "true", "lstrip_blocks": "true"}}):
        pot.add(message, locations=[(f"bot/web/{filename}", lineno)], auto_comments=comments,
                context=context)
    target = LOCALES / f"{DOMAIN}.pot"
    with target.open("wb") as out:
        write_po(out, pot, width=100, omit_header=False)
    for lang in CONSOLE_LANGUAGES[1:]:
        path = po_path(lang)
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=lang, domain=DOMAIN)
        else:
            catalog = Catalog(locale=lang, domain=DOMAIN, project=pot.project)
        catalog.update(pot, no_fuzzy_matching=True)
        with path.open("wb") as out:
            write_po(out, catalog, width=100, ignore_obsolete=True)
    return target


if __name__ == "__main__":
    print(f"wrote {extract()}", file=sys.stderr)
