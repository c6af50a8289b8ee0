"""The transcript as the resident lived it: the bot's messages rendered again from their
content keys (in the resident's language, with the English for staff), button presses as
the button's words, and each resident line isolated with its directional controls shown.

Nothing here reads stored bot text: the ticket keeps the steps the resident passed
("flow/step") and the payloads of buttons tapped while waiting, and the renderer says
again what those steps said. What the resident wrote is the only stored text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from markupsafe import Markup, escape

from bot.core import actors
from bot.core.dialogue import ItemKind, State, UserTurn
from bot.core.flows import split_target
from bot.core.render import Renderer
from bot.handoff.tickets import BUTTON, MEDIA, NOTE, REPLY, RESIDENT, SYSTEM, Attachment, Message

LEGACY_TAP = "The resident tapped a button: "  # how taps were kept before the button kind

# Directional controls a resident's text may carry (U+202E makes "0555-123-217" read
# "712-321-5550"): removed from the text and shown as a visible mark instead.
BIDI_CONTROLS = {
    "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
    "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
    "\u200e": "LRM", "\u200f": "RLM", "\u061c": "ALM",
}


def html_lang(code: str) -> str:
    """The catalog code as a BCP 47 tag for `lang=`: zh_Hans -> zh-Hans."""
    return code.replace("_", "-")


def resident_text(text: str, lang: str = "") -> Markup:
    """Each line in its own isolate (dir=auto), controls shown as [RLO] marks, not obeyed.
    For staff lines too: a pasted override must not reorder what colleagues read."""
    lines = []
    for line in text.split("\n"):
        out = []
        for char in line:
            name = BIDI_CONTROLS.get(char)
            if name is None:
                out.append(str(escape(char)))
            else:
                out.append(f'<abbr class="bidi" title="U+{ord(char):04X}">[{name}]</abbr>')
        tag = f' lang="{escape(html_lang(lang))}"' if lang else ""
        lines.append(f'<bdi dir="auto"{tag}>{"".join(out)}</bdi>')
    return Markup("<br>".join(lines))


@dataclass
class Bubble:
    """One message of the chat view."""

    side: str  # bot, resident, tap, media, staff, note, system
    who: str
    at: Optional[dt.datetime] = None
    text: str = ""  # bot and staff lines: plain text (escaped by the template)
    english: str = ""  # the bot's line in English, when the resident reads another language
    html: Optional[Markup] = None  # resident lines: isolated, controls visible
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (resident's words, English)
    delivery: Optional[str] = None
    reason: Optional[str] = None
    message_id: int = 0
    media: Optional[Attachment] = None  # a photo or voice note (served by /staff/media/<id>)


class ChatView:
    def __init__(self, renderer: Renderer, lang: str) -> None:
        self.renderer = renderer
        self.lang = lang
        self.dialogue = renderer.dialogue

    def _english(self, text: str, english: str) -> str:
        return english if english != text else ""

    def title(self, flow_id: str) -> str:
        flow = self.dialogue.flows.get(flow_id)
        return self.renderer.content.text(flow.title) if flow is not None else flow_id

    def step_bubble(self, flow_id: str, step_id: str) -> Optional[Bubble]:
        step = self.dialogue.step(flow_id, step_id)
        if step is None:  # a step edited away since: say so rather than guess
            return None
        item = {"kind": ItemKind.STEP, "flow": flow_id, "step": step_id}
        said = self.renderer.render(item, self.lang)
        english = self.renderer.render(item, "en")
        labels = list(zip((b.title for b in said.buttons), (b.title for b in english.buttons)))
        return Bubble("bot", "Bot", text=said.text, english=self._english(said.text, english.text),
                      buttons=labels)

    def pressed(self, flow_id: str, step_id: str, payload_target: str) -> Optional[tuple[str, str]]:
        """The words of the button with this target, as the resident and staff read them."""
        step = self.dialogue.step(flow_id, step_id)
        if step is None:
            return None
        option = step.option_for(*split_target(payload_target))  # "#1": the second
        if option is None:
            return None
        return self.renderer.label(self.lang, option.label), self.renderer.label("en", option.label)

    def _between(self, before: str, after: str) -> Optional[tuple[str, str]]:
        """The button that led from one step of the path to the next, if one did."""
        flow_a, _, step_a = before.partition("/")
        flow_b, _, step_b = after.partition("/")
        step = self.dialogue.step(flow_a, step_a)
        if step is None:
            return None
        for option in step.options:
            if (option.flow == flow_b and option.flow is not None) or \
                    (option.goto == step_b and flow_a == flow_b):
                return self.renderer.label(self.lang, option.label), \
                    self.renderer.label("en", option.label)
        return None

    def path(self, trail: tuple[str, ...]) -> list[Bubble]:
        """What the bot said before the ticket opened, with the buttons that led on."""
        bubbles: list[Bubble] = []
        for n, entry in enumerate(trail):
            if n:
                tapped = self._between(trail[n - 1], entry)
                if tapped is not None:
                    bubbles.append(Bubble("tap", "Resident", text=tapped[0],
                                          english=self._english(*tapped)))
            flow_id, _, step_id = entry.partition("/")
            bubble = self.step_bubble(flow_id, step_id)
            if bubble is not None:
                bubbles.append(bubble)
        return bubbles

    def path_titles(self, trail: tuple[str, ...]) -> list[str]:
        """The topics passed through, in order, once each time they were entered."""
        titles: list[str] = []
        last = None
        for entry in trail:
            flow_id = entry.partition("/")[0]
            if flow_id != last:
                titles.append(self.title(flow_id))
                last = flow_id
        return titles

    def tap(self, message: Message) -> list[Bubble]:
        """A button tapped while waiting: its words, then what the bot answered."""
        if message.text is None:
            return [Bubble("system", "Bot", message.at, text="(a button tap, deleted after the retention period)")]
        payload = message.text
        if payload.startswith(LEGACY_TAP):
            payload = payload[len(LEGACY_TAP):]
        flow_id, _, rest = payload.partition(":")
        step_id, _, target = rest.partition(">")
        words = self.pressed(flow_id, step_id, target)
        if words is None:
            return [Bubble("system", "Bot", message.at,
                           text="The resident tapped a button that no longer exists.")]
        bubbles = [Bubble("tap", "Resident", message.at, text=words[0],
                          english=self._english(*words), message_id=message.id)]
        state = State(flow=flow_id, step=step_id, lang=self.lang, disclaimer_shown=True, started=True)
        _, items = self.dialogue.respond(state, UserTurn(payload=payload))
        for item in items:
            if item.get("kind") == ItemKind.STEP:
                bubble = self.step_bubble(item["flow"], item["step"])
                if bubble is not None:
                    bubble.at = message.at
                    bubbles.append(bubble)
        return bubbles

    def media(self, message: Message, attachment: Optional[Attachment]) -> Bubble:
        """A photo or voice note with its caption; once purged, a line saying so. A caption
        that cannot be opened says its key is gone (the bytes are sealed with the same key,
        or both with KYR_SECRET_KEY's for rows from before 0010): shown as an unreadable
        line is, not as a picture that will not load."""
        if attachment is None:
            return Bubble("system", "Bot", message.at, message_id=message.id,
                          text="(a photo or voice note, deleted after the retention period)")
        if message.text is None:
            return Bubble("resident", "Resident", message.at, message_id=message.id, html=None)
        caption = resident_text(message.text, self.lang) if message.text else None
        return Bubble("media", "Resident", message.at, message_id=message.id, html=caption,
                      media=attachment)

    def transcript(self, messages: list[Message],
                   attachments: Optional[dict[int, Attachment]] = None) -> list[Bubble]:
        bubbles: list[Bubble] = []
        for m in messages:
            author = actors.staff_name(m.author)
            if m.kind == MEDIA:
                bubbles.append(self.media(m, (attachments or {}).get(m.id)))
            elif m.kind == BUTTON or (m.kind == SYSTEM and (m.text or "").startswith(LEGACY_TAP)):
                bubbles += self.tap(m)
            elif m.kind == RESIDENT:
                bubbles.append(Bubble("resident", "Resident", m.at, message_id=m.id,
                                      html=None if m.text is None else resident_text(m.text, self.lang)))
            elif m.kind == REPLY:
                bubbles.append(Bubble("staff", author, m.at, text=m.text or "", delivery=m.delivery,
                                      reason=m.reason, message_id=m.id,
                                      html=resident_text(m.text or "", self.lang)))
            elif m.kind == NOTE:
                bubbles.append(Bubble("note", author, m.at, text=m.text or "", message_id=m.id,
                                      html=resident_text(m.text or "")))
            else:
                bubbles.append(Bubble("system", "Bot", m.at, text=m.text or "", message_id=m.id))
        return bubbles

