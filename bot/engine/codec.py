"""The one turn codec: how a resident's message travels into Rasa and our replies out of it.

Rasa carries a turn in `UserMessage(text, parse_data, metadata)` and a bot message as the
dict our NLG returns. What this bot adds to them (button and command intents, the
language detected, the platform's language hint, the rendered messages with their flow,
step, action and the trail a ticket needs) is written here and read back here only, so
the engine, the policy and the NLG cannot drift apart: `encode` -> Rasa -> `decode`, and
`pack` -> Rasa -> `unpack`, each pair tested as a round trip.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from bot.core.dialogue import COMMANDS, SYSTEM_COMMANDS, UserTurn, parse_command
from bot.core.messages import Button, InboundMessage, OutboundMessage

BUTTON_INTENT = "kyr_button"
COMMAND_INTENT = "kyr_command"
FALLBACK_INTENT = "nlu_fallback"

# The metadata keys of a turn (Rasa passes metadata through untouched).
HINT, LANG, LANG_P, WORDS = "kyr_hint", "kyr_lang", "kyr_lang_p", "kyr_words"
PACKED = "kyr"  # the key of our messages inside a Rasa bot message

MAX_TEXT = 1000  # NLU reads at most this much; a resident's essay still gets an answer
MAX_PAYLOAD = 200
MAX_HINT = 20
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")  # "es", "zh_Hans"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
# Rasa reads any text that starts with "/" once stripped as its own intent syntax; "/ /x",
# "//x", " \u3000/x" all do. Typed text loses every leading slash and space before NLU.
_RASA_PREFIX = re.compile(r"^[\s/]+")
# What is left of '/intent{"entity": ...}' is no resident's words: answered as unreadable,
# never read for a topic or a language ("payload /lang es" would switch to Spanish).
_RASA_SYNTAX = re.compile(r"^[\w-]+\s*\{.*\}\s*$", re.S)

Detect = Callable[[str], tuple["str | None", float]]
WordCount = Callable[[str], int]


def clean_text(text: str, limit: int = MAX_TEXT, keep_lines: bool = False) -> str:
    """Drop control characters and unpaired surrogates; keep emoji and every script."""
    text = (_CONTROL_KEEP_LINES if keep_lines else _CONTROL).sub(" ", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    return text.strip()[:limit]


@dataclass(frozen=True)
class Encoded:
    """A turn as Rasa takes it: no `parse_data` means Rasa's NLU reads the text."""

    text: str
    parse_data: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


def command_data(text: str, name: str, argument: str | None = None) -> dict[str, Any]:
    """Parse data for one of our /commands (or a system command the app starts).

    The only argument the dialogue uses is a language code (offered or not, so that
    "/lang de" can say it is not offered); anything else a resident typed after a command
    (a name, an address) is dropped, never stored.
    """
    entities = [{"entity": "command", "value": name}]
    if name == "alerts" and argument and argument.strip().lower() == "off":
        entities.append({"entity": "argument", "value": "off"})  # "/alerts OFF"
    elif argument and LANGUAGE_CODE.fullmatch(argument):
        entities.append({"entity": "argument", "value": argument})
    return {"intent": {"name": COMMAND_INTENT, "confidence": 1.0}, "entities": entities,
            "text": text}


def button_data(payload: str) -> dict[str, Any]:
    return {"intent": {"name": BUTTON_INTENT, "confidence": 1.0},
            "entities": [{"entity": "payload", "value": payload}], "text": payload}


def encode_command(name: str) -> Encoded:
    """A turn the application starts itself (a ticket ended, say)."""
    return Encoded("", command_data("", name))


def encode(inbound: InboundMessage, detect: Detect | None = None,
           words: WordCount | None = None) -> Encoded:
    """Buttons and our /commands skip NLU; all other text goes through Rasa's NLU.

    Text may not reach Rasa starting with "/": Rasa would read it as its own intent
    syntax (letting a resident pick any intent, and logging the text when it fails).
    """
    parse_data: dict[str, Any] | None = None
    text = clean_text(inbound.text or "")
    if inbound.media is not None:  # a photo, voice note...: answered "I read text only"
        text, parse_data = "", command_data("", "media")
    elif inbound.payload is not None:
        text = clean_text(inbound.payload)[:MAX_PAYLOAD]
        command = parse_command(text)
        parse_data = command_data(text, *command) if command is not None else button_data(text)
    else:
        command = parse_command(text)
        if command is not None:
            parse_data = command_data(text, *command)
        else:
            text = _RASA_PREFIX.sub("", text)
            if _RASA_SYNTAX.match(text):
                text = ""
            if not text:  # an empty line: nothing to understand, say so kindly
                parse_data = {"intent": {"name": FALLBACK_INTENT, "confidence": 1.0},
                              "entities": [], "text": ""}
    metadata: dict[str, Any] = {}
    if inbound.lang_hint:
        metadata[HINT] = inbound.lang_hint[:MAX_HINT]
    if parse_data is None and detect is not None:
        lang, confidence = detect(text)
        metadata.update({LANG: lang, LANG_P: confidence,
                         WORDS: words(text) if words is not None else len(text.split())})
    return Encoded(text, parse_data, metadata or None)


def decode(intent: str | None, entities: Sequence[Mapping[str, Any]], text: str,
           metadata: Mapping[str, Any] | None) -> UserTurn:
    """What the policy reads back from Rasa's latest user message (see `encode`)."""
    values = {e.get("entity"): e.get("value") for e in entities}
    meta = metadata if isinstance(metadata, Mapping) else {}
    hint = str(meta[HINT]) if meta.get(HINT) else None
    if intent == BUTTON_INTENT:
        return UserTurn(intent=intent, text=text, payload=str(values.get("payload") or ""),
                        hint=hint)
    if intent == COMMAND_INTENT:
        command = str(values.get("command") or "")
        if command in COMMANDS or command in SYSTEM_COMMANDS:  # system ones come from the app
            return UserTurn(intent=intent, text=text, command=command,
                            argument=values.get("argument"), hint=hint)
        return UserTurn(intent=FALLBACK_INTENT, text=text)
    return UserTurn(intent=intent, text=text,
                    detected=str(meta[LANG]) if meta.get(LANG) else None,
                    detected_p=float(meta.get(LANG_P) or 0.0), words=int(meta.get(WORDS) or 0),
                    hint=hint)


HANDOFF = "handoff"  # the action of the item that asks for a person
COLLECTED = ("subscribe", "file_report")  # actions whose message carries what was collected


def pack(messages: Sequence[OutboundMessage], trail: tuple[str, ...] = ()) -> dict[str, Any]:
    """The NLG's answer: Rasa's own text and buttons (the last message's: Rasa records one
    BotUttered per turn) and ours whole, under a key Rasa passes on untouched.

    `trail`, the steps that led here, rides on a handoff message only: the ticket it
    opens needs it, and nothing else does."""
    last = messages[-1]
    return {
        "text": last.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in last.buttons],
        PACKED: [{"text": m.text, "buttons": [[b.title, b.payload] for b in m.buttons],
                  "lang": m.lang, "flow": m.flow, "step": m.step, "action": m.action,
                  "topic": m.topic, "urgent": m.urgent,
                  **({"trail": list(trail)} if m.action == HANDOFF else {}),
                  **({"areas": list(m.areas), "answers": [list(a) for a in m.answers]}
                     if m.action in COLLECTED else {})}
                 for m in messages],
    }


def unpack(message: Mapping[str, Any]) -> list[OutboundMessage]:
    """One Rasa bot message -> the OutboundMessages `pack` put into it."""
    packed = message.get(PACKED)
    if not isinstance(packed, list):  # not from our NLG: keep what Rasa gives
        buttons = tuple(Button(b["title"], b["payload"]) for b in message.get("buttons") or [])
        return [OutboundMessage(text=message.get("text") or "", buttons=buttons)]
    return [OutboundMessage(text=m["text"], buttons=tuple(Button(t, p) for t, p in m["buttons"]),
                            lang=m["lang"], flow=m["flow"], step=m["step"], action=m["action"],
                            topic=m.get("topic"), urgent=bool(m.get("urgent")),
                            trail=tuple(m.get("trail") or ()),
                            areas=tuple(m.get("areas") or ()),
                            answers=tuple((a[0], a[1]) for a in m.get("answers") or ()))
            for m in packed]
