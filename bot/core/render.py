"""Turn an answer item into the words and buttons of one message, in one language."""

from __future__ import annotations

import os
import datetime as dt
import re
from typing import Callable, Mapping

from bot.core import alerts
from bot.core.content import Content
from bot.core.dialogue import Dialogue, Item, ItemKind
from babel.numbers import format_decimal

from bot.core.i18n import RTL_LANGUAGES, Catalogs, ContactView, babel_locale, isolate, reviewed_keys
from bot.core.languages import NATIVE_NAMES
from bot.core.lines import line_open_now
from bot.core.messages import Button, OutboundMessage
from bot.core.problems import StartupError

HOURS_WORDS = {"always": "ui.hours_always", "all_day": "ui.hours_all_day",
               "closed": "ui.hours_closed", "unconfirmed": "ui.hours_unconfirmed"}
DIRECTORY_LINE = "ui.directory_line"
# {line_now} in any text: the one confirmed line open at this hour, with its languages.
LINE_NOW = "line_now"
LINE_NOW_KEY, NO_LINE_NOW_KEY = "urgent.line_now", "urgent.no_line_now"


TRANSLATION_PENDING = "ui.translation_pending"
DRAFTS_NOTICE = "ui.drafts_notice"
GREETING = "ui.greeting"
# What residents see of legal text whose translation no reviewer has signed (`# reviewed-by:`):
#   drafts         the draft translation, and the greeting says once that drafts are shown
#   reviewed-only  the English text, after one line in their language saying a reviewed
#                  translation is coming
PUBLISH_MODES = ("drafts", "reviewed-only")
DEFAULT_PUBLISH = "drafts"


def publish_mode(env: Mapping[str, str] = os.environ) -> str:
    """KYR_PUBLISH, checked: a typo must not silently publish unreviewed legal text."""
    mode = (env.get("KYR_PUBLISH") or DEFAULT_PUBLISH).strip().lower()
    if mode not in PUBLISH_MODES:
        raise StartupError(f"KYR_PUBLISH={mode!r}: use {' or '.join(PUBLISH_MODES)}")
    return mode


PLACEHOLDER = re.compile(r"\{([a-z0-9_]+(?:\.[a-z]+)?)\}")
# A run of Latin letters, digits and the punctuation inside names, commands and form numbers
# ("ICE", "I-200", "/menu", "U.S. District Court"); placeholders are skipped (filled isolated).
# A bracketed run with no right-to-left letters inside, such as the English a resident says
# to agents, "(I want to remain silent. I want to speak to a lawyer.)": isolated whole,
# brackets included, or an RTL phone moves the closing bracket and reorders the sentences.
RTL_LETTERS = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff"
LATIN_RUN = re.compile(r"(\{[^{}]*\})"
                       rf"|(\((?=[^(){{}}{RTL_LETTERS}]*[A-Za-z])[^(){{}}{RTL_LETTERS}]*\))"
                       r"|((?:/|\b)[A-Za-z0-9][A-Za-z0-9 .,'/()\-]*[A-Za-z0-9)])")


def isolate_latin(text: str) -> str:
    """For right-to-left text: wrap Latin runs in directional isolates so phones keep order."""
    return LATIN_RUN.sub(lambda m: m.group(1) or isolate(m.group(2) or m.group(3), "ar"), text)


def placeholders(text: str) -> set[str]:
    """Field names in a text: '{nijc.phone}' -> {'nijc.phone'}; any other brace is reported."""
    names = set(PLACEHOLDER.findall(text))
    rest = PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        names.add("<malformed braces>")
    return names


def fill(template: str, values: dict[str, str]) -> str:
    """Substitute {name} placeholders from a flat dict of strings, and nothing else.

    Not str.format: a format string can walk attributes (`{x.__init__.__globals__}`), and
    translations come from volunteers' catalogs. Unknown names or stray braces raise.
    """
    rest = PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError("malformed placeholder")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


class Renderer:
    def __init__(self, content: Content, catalogs: Catalogs, dialogue: Dialogue,
                 publish: str | None = None) -> None:
        self.content = content
        self.catalogs = catalogs
        self.dialogue = dialogue
        self.publish = publish or publish_mode()
        if self.publish not in PUBLISH_MODES:
            raise ValueError(f"publish mode {self.publish!r}: use {' or '.join(PUBLISH_MODES)}")
        self._fields_cache: dict[str, dict[str, str]] = {}
        self._reviewed: dict[str, frozenset[str]] = {}
        # What "now" is for {line_now}; the engine points it at its own clock.
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)

    def reload(self) -> None:
        """Re-read the compiled catalogs (a translator ran `kyr i18n compile`)."""
        self.catalogs.reload()
        self.dialogue.generation += 1  # its cached words of the catalogs are stale now
        self._fields_cache.clear()
        self._reviewed.clear()

    def warm(self) -> None:
        """Build what the first message in each language would otherwise build: the
        contacts' fields (Babel's hours and day names), the danger index and the STOP
        words of every live language. At start, so no resident's first message waits."""
        for lang in self.dialogue.languages:
            self._fields(lang)
        self.dialogue.is_stop_word("stop")
        self.dialogue.danger_in("", "en")

    def reviewed_keys(self, lang: str) -> frozenset[str]:
        """Keys whose translation in `lang` a reviewer signed (`# reviewed-by:`), from the .po."""
        keys = self._reviewed.get(lang)
        if keys is None:
            keys = reviewed_keys(self.catalogs.locales_dir / lang / "LC_MESSAGES" / "messages.po")
            self._reviewed[lang] = keys
        return keys

    def unreviewed_legal(self, lang: str) -> bool:
        """True when some legal text would be shown in `lang` as a translation nobody reviewed."""
        if lang == "en":
            return False
        reviewed = self.reviewed_keys(lang)
        return any(t.legal and k not in reviewed and self.catalogs.has_translation(lang, k, t.text)
                   for k, t in self.content.texts.items())

    def reload_if_changed(self, accept: Callable[[], bool] = lambda: True) -> bool:
        """Reload compiled catalogs that changed on disk, if `accept()` approves them."""
        if not self.catalogs.changed():
            return False
        if not accept():
            self.catalogs.acknowledge()  # keep serving the catalogs that passed
            return False
        self.reload()
        return True

    def text(self, lang: str, key: str, isolated: bool = True, **extra: str) -> str:
        """The text of a content key in `lang`, placeholders filled; English if untranslated."""
        entry = self.content.texts[key]
        source = entry.text
        if (self.publish == "reviewed-only" and lang != "en" and entry.legal
                and key not in self.reviewed_keys(lang)):
            notice = self.text(lang, TRANSLATION_PENDING)
            return f"{notice}\n{self._finish(lang, source, source, extra, isolated)}"
        translated = self.catalogs.translate(lang, key, source)
        text = self._finish(lang, translated, source, extra, isolated)
        if key == GREETING and self.publish == "drafts" and self.unreviewed_legal(lang):
            # Said once, where every conversation starts: legal text below is a draft.
            text = f"{text}\n\n{self.text(lang, DRAFTS_NOTICE)}"
        return text

    def text_n(self, lang: str, key: str, n: int, **extra: str) -> str:
        """A text with a plural, for the number n ({count}, written as the locale writes it)."""
        entry = self.content.texts[key]
        plural = entry.plural or entry.text
        translated = self.catalogs.translate_n(lang, key, entry.text, plural, n)
        count = format_decimal(n, locale=babel_locale(lang))
        return self._finish(lang, translated, entry.text if n == 1 else plural,
                            {**extra, "count": count}, True)

    def _finish(self, lang: str, translated: str, source: str, extra: dict[str, str],
                isolated: bool) -> str:
        """Isolate Latin runs in right-to-left text, fill placeholders; on a broken
        translation fall back to the English source (it must never silence the bot)."""
        if isolated and lang.split("_")[0] in RTL_LANGUAGES and translated != source:
            translated = isolate_latin(translated)
        fields = self._fields(lang) | extra if extra else self._fields(lang)  # labels: none
        if f"{{{LINE_NOW}}}" in translated or f"{{{LINE_NOW}}}" in source:
            fields = fields | {LINE_NOW: self.line_now(lang)}
        try:
            return fill(translated, fields)
        except (KeyError, ValueError):
            return fill(source, fields)

    def line_now(self, lang: str) -> str:
        """'Call X now: +1 ... Open now, in English, Español.', or the words for none open."""
        contact = line_open_now(self.content, self.clock())
        if contact is None:
            return self.text(lang, NO_LINE_NOW_KEY)
        fields = self._fields(lang)  # formatted once per language, not on every reply
        name = fields[f"{contact.id}.name"]
        names = ", ".join(NATIVE_NAMES.get(code, code) for code in contact.languages)
        return self.text(lang, LINE_NOW_KEY, line_name=name,
                         line_phone=fields[f"{contact.id}.phone"], line_languages=names or name)

    def label(self, lang: str, key: str) -> str:
        """Button labels: short, one direction, and isolates would eat the 20-character limit."""
        return self.text(lang, key, isolated=False)

    def _hours_words(self, lang: str) -> dict[str, str]:
        return {k: self.catalogs.translate(lang, v, self.content.text(v))
                for k, v in HOURS_WORDS.items()}

    def _views(self, lang: str) -> dict[str, ContactView]:
        words = self._hours_words(lang)
        return {cid: ContactView(c, lang, words) for cid, c in self.content.contacts.items()}

    def _fields(self, lang: str) -> dict[str, str]:
        """{'nijc.phone': ...} for one language; formatted once, not per message."""
        fields = self._fields_cache.get(lang)
        if fields is None:
            fields = {f"{cid}.{name}": getattr(view, name)
                      for cid, view in self._views(lang).items()
                      for name in ("name", "phone", "url", "hours")}
            for cid, contact in self.content.contacts.items():
                names = ", ".join(NATIVE_NAMES.get(code, code) for code in contact.languages)
                rtl = re.search(f"[{RTL_LETTERS}]", names)
                fields[f"{cid}.languages"] = names if rtl else isolate(names, lang)
            self._fields_cache[lang] = fields
        return fields

    def directory(self, lang: str, tag: str) -> str:
        fields = self._fields(lang)
        lines = []
        # Those that answer in the resident's language first; the rest keep file order.
        contacts = sorted(self.content.directory(tag), key=lambda c: lang not in c.languages)
        for contact in contacts:
            c = contact.id
            lines.append(self.text(lang, DIRECTORY_LINE, name=fields[f"{c}.name"],
                                   phone=fields[f"{c}.phone"] or fields[f"{c}.url"],
                                   hours=fields[f"{c}.hours"],
                                   languages=fields[f"{c}.languages"]))
        return "\n".join(lines)

    def render(self, item: Item, lang: str) -> OutboundMessage:
        kind = item["kind"]
        if kind == ItemKind.NOTICE:
            extra = {"language": NATIVE_NAMES.get(item["language"], item["language"])} \
                if "language" in item else {}
            return OutboundMessage(self.text(lang, item["key"], **extra), lang=lang,
                                   flow="system", step=item["key"].split(".", 1)[1])
        if kind == ItemKind.ASK_LANGUAGE:
            return self._ask_language(item, lang)
        flow_id, step_id = item["flow"], item["step"]
        step = self.dialogue.step(flow_id, step_id)
        if step is None:  # cannot happen for items the dialogue made; stay safe anyway
            return OutboundMessage(self.text(lang, "ui.fallback"), lang=lang, flow="system",
                                   step="fallback")
        specs = self.dialogue.buttons(flow_id, step, lang)
        buttons = tuple(
            Button(spec.label if spec.literal else self.label(lang, spec.label), spec.payload)
            for spec in specs
        )
        if kind == ItemKind.FALLBACK:
            return OutboundMessage(self.text(lang, item.get("key", "ui.fallback")), buttons, lang,
                                   flow_id, step_id)
        if kind == ItemKind.DANGER:  # said at once, with the buttons of where the resident was
            return OutboundMessage(self.text(lang, item["key"]), buttons, lang, "system",
                                   item["key"].replace(".", "_"), "handoff", item.get("topic"), True)
        picked = tuple(item.get("areas") or ())
        text = self.text(lang, step.say, True, **{alerts.AREAS_FIELD: alerts.area_names(picked)})
        if step.directory:
            listing = self.directory(lang, step.directory)
            text = f"{text}\n\n{listing}" if listing else text
        answers = tuple(sorted((str(k), str(v)) for k, v in (item.get("answers") or {}).items()))
        return OutboundMessage(text, buttons, lang, flow_id, step_id, step.action, item.get("topic"),
                               bool(item.get("urgent")), areas=picked, answers=answers)

    def _ask_language(self, item: dict, lang: str) -> OutboundMessage:
        """'Do you want me to write in Español?' asked in both languages, both as buttons."""
        other = item["lang"]
        name = NATIVE_NAMES.get(other, other)
        text = "\n\n".join(dict.fromkeys([
            self.text(other, "ui.switch_language_prompt", language=name),
            self.text(lang, "ui.switch_language_prompt", language=name)]))
        # The same buttons the dialogue numbers when the answer is typed ("1", "Español").
        buttons = [Button(spec.label if spec.literal else self.label(lang, spec.label), spec.payload)
                   for spec in self.dialogue.ask_language_buttons(lang, other)]
        return OutboundMessage(text, tuple(buttons), lang, "system", "switch_language")
