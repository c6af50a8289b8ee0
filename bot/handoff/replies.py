"""Staff replies set the way the bot sets its own messages, so an Arabic phone shows a
canned reply or a typed one in the same order as the bot's texts.

The rule is the bot's (bot.core.render): in right-to-left languages, Latin runs (ICE,
I-200, a phone number) go inside directional isolates. A canned reply sent as offered is
the bot's own rendering of its content key, exactly; typed or edited text gets the same
rule, leaving alone what is already isolated (the phone numbers a canned text carries).
Overrides and embeddings (U+202A-U+202E) are dropped: they reorder what follows them.
"""

from __future__ import annotations

import re

from bot.core.i18n import RTL_LANGUAGES
from bot.core.render import Renderer, isolate_latin

CANNED_PREFIX = "canned."  # content/handoff.yml: editors add canned replies there, in order
OVERRIDES = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e"))
ISOLATED = re.compile("([\u2066\u2067\u2068][^\u2066-\u2069]*\u2069)")


def canned_keys(renderer: Renderer) -> list[str]:
    return [key for key in renderer.content.texts if key.startswith(CANNED_PREFIX)]


def as_the_bot_writes(renderer: Renderer, lang: str, text: str) -> str:
    """The text to send for a staff reply in `lang` (what the transcript keeps is as typed)."""
    for key in canned_keys(renderer):
        if text == renderer.text(lang, key, isolated=False):
            return renderer.text(lang, key)  # as the bot would have sent it
    text = text.translate(OVERRIDES)
    if lang.split("_")[0] not in RTL_LANGUAGES:
        return text
    return "".join(part if ISOLATED.fullmatch(part) else isolate_latin(part)
                   for part in ISOLATED.split(text))
