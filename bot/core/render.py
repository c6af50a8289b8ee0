"""Turn an answer item into the words and buttons of one message, in one language."""

from __future__ import annotations

import string

from bot.core.content import Content
from bot.core.dialogue import Dialogue, Item
from bot.core.i18n import Catalogs, ContactView
from bot.core.messages import Button, OutboundMessage

HOURS_WORDS = {"always": "ui.hours_always", "all_day": "ui.hours_all_day", "closed": "ui.hours_closed"}
DIRECTORY_LINE = "ui.directory_line"


def placeholders(text: str) -> set[str]:
    """Field names in a text: '{nijc.phone}' -> {'nijc.phone'}."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return {"<unbalanced braces>"}


class Renderer:
    def __init__(self, content: Content, catalogs: Catalogs, dialogue: Dialogue) -> None:
        self.content = content
        self.catalogs = catalogs
        self.dialogue = dialogue
        self._fields_cache: dict[str, dict[str, object]] = {}

    def reload(self) -> None:
        """Re-read the compiled catalogs (a translator ran `kyr i18n compile`)."""
        self.catalogs.reload()
        self._fields_cache.clear()

    def text(self, lang: str, key: str, **extra: object) -> str:
        """The text of a content key in `lang`, placeholders filled; English if untranslated."""
        source = self.content.text(key)
        translated = self.catalogs.translate(lang, key, source)
        fields = self._fields(lang) | extra
        try:
            return translated.format_map(fields)
        except (KeyError, AttributeError, ValueError, IndexError):
            # A broken translation must never silence the bot: fall back to the source.
            return source.format_map(fields)

    def label(self, lang: str, key: str) -> str:
        return self.text(lang, key)

    def _hours_words(self, lang: str) -> dict[str, str]:
        return {k: self.catalogs.translate(lang, v, self.content.text(v))
                for k, v in HOURS_WORDS.items()}

    def _fields(self, lang: str) -> dict[str, object]:
        """Contact placeholders for one language; formatted once, not per message."""
        fields = self._fields_cache.get(lang)
        if fields is None:
            words = self._hours_words(lang)
            fields = {cid: ContactView(c, lang, words) for cid, c in self.content.contacts.items()}
            self._fields_cache[lang] = fields
        return fields

    def directory(self, lang: str, tag: str) -> str:
        fields = self._fields(lang)
        lines = []
        for contact in self.content.directory(tag):
            view = fields[contact.id]
            assert isinstance(view, ContactView)
            lines.append(self.text(lang, DIRECTORY_LINE, name=view.name,
                                   phone=view.phone or view.url, hours=view.hours))
        return "\n".join(lines)

    def render(self, item: Item, lang: str) -> OutboundMessage:
        kind = item["kind"]
        if kind == "notice":
            return OutboundMessage(self.text(lang, item["key"]), lang=lang, flow="system",
                                   step=item["key"].split(".", 1)[1])
        flow_id, step_id = item["flow"], item["step"]
        step = self.dialogue.step(flow_id, step_id)
        if step is None:  # cannot happen for items the dialogue made; stay safe anyway
            return OutboundMessage(self.text(lang, "ui.fallback"), lang=lang, flow="system",
                                   step="fallback")
        specs = self.dialogue.buttons(flow_id, step)
        buttons = tuple(
            Button(spec.label if spec.literal else self.label(lang, spec.label), spec.payload)
            for spec in specs
        )
        if kind == "fallback":
            return OutboundMessage(self.text(lang, "ui.fallback"), buttons, lang, flow_id, step_id)
        text = self.text(lang, step.say)
        if step.directory:
            listing = self.directory(lang, step.directory)
            text = f"{text}\n\n{listing}" if listing else text
        return OutboundMessage(text, buttons, lang, flow_id, step_id, step.action)
