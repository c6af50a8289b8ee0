"""What the bot says next: the flow rules, independent of Rasa.

The Rasa policy (bot.engine.policy) reads the conversation state from tracker slots,
asks `Dialogue.respond` what to say, and writes the new state back as slot events.
Each item of the answer is rendered into one message by bot.core.render.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable, Iterable

import re

from bot.core import alerts, areas, danger, streets
from bot.core.flows import CROSS_STREETS, PICK_AREA, Flow, Option, Step, split_target
from bot.core.i18n import normalise
from bot.core.languages import (NO_PREFIXES_ZH, NO_WORDS, NOT_SURE, TYPED_NAMES, YES_PHRASES,
                                 YES_PREFIXES_ZH, YES_WORDS, language_from_hint,
                                 one_word_is_enough)

MENU_FLOW = "main_menu"
LANGUAGE_FLOW = "change_language"
HUMAN_FLOW = "talk_to_person"
DELETE_FLOW = "delete_my_data"
HELP_FLOW = "help"
SUBSCRIBE_FLOW = "subscribe_alerts"  # /alerts
STOP_ALERTS_FLOW = "stop_alerts"  # /alerts off, and STOP from a subscriber (bot.app)
ALERTS_OFF = "/alerts off"
COMMAND_FLOWS = {"menu": MENU_FLOW, "human": HUMAN_FLOW, "delete": DELETE_FLOW, "help": HELP_FLOW,
                 "alerts": SUBSCRIBE_FLOW}
COMMANDS = ("start", "menu", "lang", "human", "delete", "help", "resume", "media", "stop", "bot",
            "alerts")
# Steps whose item carries what the flow collected, which is then dropped from the state.
USES_ANSWERS = ("subscribe", "file_report")
AREA_SEPARATORS = re.compile(r"[,;\n]+|\s+(?:and|y|et|i|&)\s+", re.I)  # "Pilsen, Cicero"
TOPIC_WORDS = 4  # a longer unknown answer to "which area?" may be a topic of its own
# Turns the engine starts itself when a ticket ends; a resident cannot type them.
SYSTEM_COMMANDS = {"handoff_stopped": "handoff.stopped", "handoff_closed": "handoff.closed"}
# What the bot says of something that is not text, outside a ticket. A photo may be the
# paper agents showed at the door: the answer offers a person, who can see photos.
MEDIA_COMMANDS = {"media": "ui.text_only", "photo": "handoff.photo_text_only"}
TRAIL = 6  # steps remembered, so hotline staff see the path that led to a ticket
MENU_PAYLOAD = "/menu"
HUMAN_PAYLOAD = "/human"
MAX_CHAIN = 12
# Text that is no topic of its own: a yes / no at its start may answer the question asked.
NOT_A_TOPIC = (None, "", "nlu_fallback", "out_of_scope", "greet")
MAX_ANSWER_WORDS = 6  # "si tiene firma de juez", "my son was taken": still an answer
# What typed text at a cross_streets step is (Dialogue.streets_answer).
STREETS_TAKEN, STREETS_REFUSED = "taken", "refused"

class ItemKind(str, Enum):
    """What an answer item is; `Renderer.render` makes each a message. A str, so items stay
    plain JSON in the conversation state and compare equal to the words stored there."""

    STEP = "step"  # a flow's step: its text and buttons
    NOTICE = "notice"  # a short system text ("ui.greeting"), by its key
    FALLBACK = "fallback"  # "I didn't understand", with the buttons of where they were
    ASK_LANGUAGE = "ask_language"  # "Do you want me to write in X?"
    DANGER = "danger"  # someone in danger now: said at once, a handoff


# One answer item: {"kind": ItemKind, "flow", "step", "key", ...}
Item = dict


@dataclass(frozen=True)
class State:
    flow: str | None = None
    step: str | None = None
    lang: str = "en"
    disclaimer_shown: bool = False
    started: bool = False
    return_to: tuple[str, str] | None = None
    trail: tuple[str, ...] = ()  # the last steps said, "flow/step", oldest first
    asking: str | None = None  # "Do you want me to write in X?" was just asked (X's code)
    # What this flow collected, until its `subscribe` or `file_report` step uses it: area
    # codes typed at `pick_area` steps, the buttons of `collect:` steps (name, value), and
    # the cross streets typed at a `cross_streets` step, only as the application sealed them.
    areas: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()

    def collected(self) -> "State":
        """The same place with nothing collected: a flow left, or its answers used."""
        return replace(self, areas=(), answers=()) if self.areas or self.answers else self


@dataclass(frozen=True)
class UserTurn:
    intent: str | None = None
    text: str = ""
    payload: str | None = None
    command: str | None = None
    argument: str | None = None
    detected: str | None = None  # language the text seems to be in
    detected_p: float = 0.0
    words: int = 0
    hint: str | None = None  # the platform's idea of the resident's language


# Scripts no other live language uses: one confident word is enough to know the language.
SWITCH_WORDS, SWITCH_P = 3, 0.8  # switch and answer in the detected language
ASK_P = 0.9  # shorter, but confident: ask in both languages


@dataclass(frozen=True)
class ButtonSpec:
    """A button before translation: `label` is a content key unless `literal`."""

    label: str
    payload: str
    literal: bool = False
    words: str | None = None  # content key of the words a resident may type for it


def option_payloads(flow: str, step: Step) -> list[tuple[Option, str]]:
    """Each option of a step with its payload, 'flow:step>target'; a second option with the
    same target gets '#1', so the ids of one message differ (WhatsApp requires it)."""
    seen: dict[str, int] = {}
    out = []
    for option in step.options:
        occurrence = seen.get(option.target, 0)
        seen[option.target] = occurrence + 1
        suffix = f"#{occurrence}" if occurrence else ""
        out.append((option, f"{flow}:{step.id}>{option.target}{suffix}"))
    return out


def parse_command(text: str) -> tuple[str, str | None] | None:
    """'/lang es' -> ('lang', 'es'); None when the text is not one of our commands."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    parts = stripped[1:].split(None, 1)
    if not parts:
        return None
    name = parts[0].split("@", 1)[0].lower()  # Telegram sends /menu@BotName in groups
    if name not in COMMANDS:
        return None
    return name, (parts[1].strip() if len(parts) > 1 else None)


def is_short_answer(wanted: str) -> bool:
    """Three words at most ("no tiene firma"); in Chinese, four characters ("不是的")."""
    han = sum(1 for c in wanted if "\u4e00" <= c <= "\u9fff")
    return (han <= 4) if han else len(wanted.split()) <= 3


def yes_no(wanted: str) -> str | None:
    """'nope' -> 'ui.no', 'claro que si' -> 'ui.yes', 'nie wiem' -> 'ui.not_sure' (normalised text).

    "Not sure" is tried first and is never "no" ("no se", "nie jestem pewna", "مش متأكد");
    then phrases that mean yes but start like no ("no tak"); then the first word."""
    if not wanted:
        return None
    padded = f" {wanted} "
    if any(f" {phrase} " in padded or (not phrase.isascii() and phrase in wanted)
           for phrase in NOT_SURE):
        return "ui.not_sure"
    if any(padded.startswith(f" {phrase} ") for phrase in YES_PHRASES):
        return "ui.yes"
    first = wanted.split()[0]
    if first in NO_WORDS or wanted.startswith(NO_PREFIXES_ZH):
        return "ui.no"
    if first in YES_WORDS or wanted.startswith(YES_PREFIXES_ZH):
        return "ui.yes"
    return None


class Dialogue:
    def __init__(
        self,
        flows: dict[str, Flow],
        label: Callable[[str, str], str],
        languages: tuple[str, ...],
        language_names: dict[str, str],
        is_legal: Callable[[str], bool] | None = None,
        seal: Callable[[str], str] | None = None,
    ) -> None:
        self.flows = flows
        self.label = label  # (lang, key) -> the label as the resident reads it
        self.languages = languages
        self.language_names = language_names
        # Whether a content key is a legal text (the disclaimer goes with the first one).
        self.is_legal = is_legal or (lambda key: True)
        # Seals typed cross streets before the state holds them (the application's key;
        # the state is stored in the tracker). Without one, typed cross streets are not kept.
        self.seal = seal
        self._phrases: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self._stop_words: tuple[int, frozenset[str]] | None = None
        self.generation = 0  # grows when the catalogs are reloaded (Renderer.reload)
        self._danger_words: tuple[int, danger.Lexicons] | None = None  # every language's danger words
        # Flows an NLU intent of the same name opens directly (the picker is handled apart).
        self.topic_flows = set(flows) - {MENU_FLOW, HELP_FLOW, LANGUAGE_FLOW}

    # ---- buttons: one source for rendering and for matching typed answers ----

    def step(self, flow: str | None, step: str | None) -> Step | None:
        if flow is None or step is None or flow not in self.flows:
            return None
        return self.flows[flow].steps.get(step)

    def buttons(self, flow: str, step: Step, lang: str = "en") -> list[ButtonSpec]:
        specs: list[ButtonSpec] = []
        if not step.waits:
            return specs  # the message that follows carries the buttons
        if step.action == "pick_language":  # the preselected language first
            order = sorted(self.languages, key=lambda code: code != lang)
            specs += [ButtonSpec(self.language_names.get(code, code), f"/lang {code}", literal=True)
                      for code in order]
        specs += [ButtonSpec(option.label, payload, words=option.words)
                  for option, payload in option_payloads(flow, step)]
        if not (flow == MENU_FLOW and step.id == self.flows[MENU_FLOW].first.id):
            specs.append(ButtonSpec("ui.main_menu", MENU_PAYLOAD))
        if flow != HUMAN_FLOW:
            specs.append(ButtonSpec("ui.talk_to_person", HUMAN_PAYLOAD))
        return specs

    def ask_language_buttons(self, lang: str, other: str) -> list[ButtonSpec]:
        """The buttons of "Do you want me to write in X?": X, the current language, the two."""
        return [ButtonSpec(self.language_names.get(other, other), f"/lang {other}", literal=True),
                ButtonSpec(self.language_names.get(lang, lang), f"/lang {lang}", literal=True),
                ButtonSpec("ui.main_menu", MENU_PAYLOAD), ButtonSpec("ui.talk_to_person", HUMAN_PAYLOAD)]

    def current_buttons(self, state: State) -> list[ButtonSpec]:
        """The buttons the resident has in front of them, in the order they are numbered."""
        if state.asking is not None:
            return self.ask_language_buttons(state.lang, state.asking)
        current = self.step(state.flow, state.step)
        if current is None or state.flow is None:
            return []
        return self.buttons(state.flow, current, state.lang)

    def typed_payload(self, state: State, text: str, intent: str | None = None) -> str | None:
        """The payload of the button a typed answer names ("2", "no", "Sí", "mi hijo"), if any."""
        choice = self._typed_choice(state, text, intent)
        return choice.payload if choice is not None else None

    def phrases(self, lang: str, key: str) -> list[str]:
        """The comma-separated words of a content key in one language, normalised (cached
        until the catalogs are reloaded: every message asks for the danger words of every
        language, and looking the texts up was most of the danger check's time)."""
        cached = self._phrases.get((lang, key))
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        try:
            raw = self.label(lang, key)
        except KeyError:  # not in this content: no words
            return []
        self._phrases[(lang, key)] = (self.generation, danger.split_phrases(raw))
        return self._phrases[(lang, key)][1]

    def _named_by(self, wanted: str, key: str, lang: str) -> tuple[bool, int]:
        """Whether a button's words are in typed text in the resident's language (or
        English), and how long the longest match is (0: none). Other live languages count
        only after those: "mi hijo" answers an English question too, but Creole "yo" (they)
        does not outvote Spanish "yo" (me). Chinese is found inside the text, all others as
        whole words."""
        padded, joined = f" {wanted} ", wanted.replace(" ", "")
        best: tuple[bool, int] = (False, 0)
        for code in self.languages:
            own = code in (lang, "en")
            for p in self.phrases(code, key):
                if (f" {p} " in padded) or (danger.has_han(p) and p.replace(" ", "") in joined):
                    best = max(best, (own, len(p)))
        return best

    def _typed_choice(self, state: State, text: str, intent: str | None = None) -> ButtonSpec | None:
        """A typed answer that names a button in front of the resident, or its number."""
        specs = self.current_buttons(state)
        if not specs or self.picks_areas(state, text) is not None:
            return None  # "24" at "which area?" is West Town, not the 24th button
        stripped = text.strip()
        # isdecimal, not isdigit: "²" and "①" are digits that int() refuses; "٣" is decimal.
        if stripped.isdecimal() and 1 <= int(stripped) <= len(specs):
            return specs[int(stripped) - 1]
        wanted = normalise(text)
        if not wanted:
            return None
        for spec in specs:
            title = spec.label if spec.literal else self.label(state.lang, spec.label)
            if normalise(title) == wanted:
                return spec
        if self.at_cross_streets(state):  # "no se" is Skip; "Pulaski, no se el numero" is streets
            return next((spec for spec in specs if spec.words and any(
                wanted in self.phrases(code, spec.words) for code in self.languages)), None)
        han = sum(1 for c in wanted if "\u4e00" <= c <= "\u9fff")
        answer_sized = (han <= 10) if han else len(wanted.split()) <= MAX_ANSWER_WORDS
        if answer_sized:  # "mi hijo", "in my car": the words a step lists for its buttons
            # The longest words win ("我儿子" over "我"); a tie between two buttons is no answer.
            named = sorted(((self._named_by(wanted, spec.words, state.lang), spec)
                            for spec in specs if spec.words), key=lambda pair: pair[0], reverse=True)
            if named and named[0][0][1] and (len(named) == 1 or named[1][0] < named[0][0]):
                return named[0][1]
        # Short: a yes / no / not sure. A little longer ("si tiene firma de juez"): only when
        # it is no topic of its own; "no, agents are raiding my job" is read for its topic.
        if is_short_answer(wanted) or (answer_sized and intent in NOT_A_TOPIC):
            answer = yes_no(wanted)
            return next((spec for spec in specs if spec.label == answer), None) if answer else None
        return None

    # ---- areas typed at a pick_area step; STOP words ----

    def at_pick_area(self, state: State) -> bool:
        step = self.step(state.flow, state.step)
        return step is not None and step.action == PICK_AREA and state.asking is None

    def picks_areas(self, state: State, text: str) -> list[str] | None:
        """The area codes a typed answer names at a pick_area step ("24", "Pilsen, Cicero"),
        or None when it is no such step or a part names no area (nothing is guessed)."""
        if not self.at_pick_area(state) or not text.strip():
            return None
        whole = areas.find(text)
        if whole is not None:
            return [whole.code]
        parts = [p for p in AREA_SEPARATORS.split(text) if p.strip()]
        found = [areas.find(p) for p in parts]
        if len(parts) < 2 or any(a is None for a in found):
            return None
        return [a.code for a in found if a is not None]

    def at_cross_streets(self, state: State) -> bool:
        step = self.step(state.flow, state.step)
        return step is not None and step.action == CROSS_STREETS and state.asking is None

    def streets_answer(self, state: State, text: str) -> str | None:
        """What typed text at a cross_streets step is: STREETS_TAKEN (the cross streets),
        STREETS_REFUSED (it reads as a home address: nothing of it is kept), or None (no
        such step, a button's words or number, a yes, a long message, nothing left once
        house numbers go: read as any text). Danger is answered before this is asked."""
        if not self.at_cross_streets(state) or self._typed_choice(state, text) is not None:
            return None
        wanted = normalise(text)
        if not wanted or len(text.split()) > streets.MAX_WORDS \
                or (is_short_answer(wanted) and yes_no(wanted) == "ui.yes"):
            return None
        if streets.is_home_address(text):
            return STREETS_REFUSED
        return STREETS_TAKEN if streets.as_kept(text) else None

    def is_stop_word(self, text: str) -> bool:
        """A whole message that is one of the STOP words of any live language ("stop",
        "baja", "停止"): the application stops a subscriber's alerts with it."""
        wanted = normalise(text)
        if self._stop_words is None or self._stop_words[0] != self.generation:
            # One set for every live language, until the catalogs reload: a subscriber's
            # every short message asks.
            self._stop_words = (self.generation, frozenset(
                phrase for code in self.languages for phrase in self.phrases(code, alerts.STOP_WORDS)))
        return bool(wanted) and wanted in self._stop_words[1]

    def _picked(self, state: State, codes: Iterable[str], items: list[Item]) -> tuple[State, list[Item]]:
        step = self.step(state.flow, state.step)
        if step is None or step.picked is None or state.flow is None:  # edited away meanwhile
            return self._fallback(state, items)
        chosen = tuple(dict.fromkeys(state.areas + tuple(codes)))[-alerts.MAX_AREAS:]
        return self._walk(replace(state, areas=chosen), state.flow, step.picked, items)

    def _streets(self, state: State, text: str, items: list[Item]) -> tuple[State, list[Item]]:
        """Typed cross streets taken: held only sealed (or not at all without a sealer),
        then on to where the step leads. The text itself is in no item and no state."""
        step = self.step(state.flow, state.step)
        if step is None or step.picked is None or state.flow is None:  # edited away meanwhile
            return self._fallback(state, items)
        answers = tuple((k, v) for k, v in state.answers if k != streets.CROSS_STREETS)
        if self.seal is not None:
            answers += ((streets.CROSS_STREETS, self.seal(streets.as_kept(text))),)
        return self._walk(replace(state, answers=answers), state.flow, step.picked, items)

    # ---- danger: answered at once, in any state ----

    def danger_in(self, text: str, lang: str) -> tuple[str, str] | None:
        """(kind, language) when text says someone is in danger now, in any live language;
        the resident's language is preferred when its words matched."""
        if self._danger_words is None or self._danger_words[0] != self.generation:
            self._danger_words = (self.generation, danger.Lexicons({code: danger.Lexicon({
                kind: tuple(self.phrases(code, key)) for kind, key in danger.KEYS.items()})
                for code in self.languages}))
        found = self._danger_words[1].detect_each(text)
        order = sorted(self.languages, key=lambda code: (code != lang, code == "en"))
        matched = [(found[code], code) for code in order if code in found]
        if not matched:
            return None
        kind = danger.LIFE if any(k == danger.LIFE for k, _ in matched) else danger.NOW
        return kind, matched[0][1]

    # ---- the rules ----

    def _preselect(self, turn: UserTurn) -> str | None:
        """First contact: a deep link, the app's language, or clearly written text."""
        if turn.command in ("start", "lang") and turn.argument in self.languages:
            return turn.argument
        hinted = language_from_hint(turn.hint, self.languages)
        if hinted is not None:
            return hinted
        return self._clearly_in(turn)

    def _clearly_in(self, turn: UserTurn) -> str | None:
        """The live language understood text is clearly written in, if any."""
        lang = turn.detected
        if lang not in self.languages or turn.intent in (None, "out_of_scope", "nlu_fallback"):
            return None  # gibberish "looks" like some language: follow understood text only
        if turn.detected_p >= SWITCH_P and (turn.words >= SWITCH_WORDS
                                          or one_word_is_enough(turn.text, lang, self.languages)):
            return lang
        return None

    def requested_language(self, text: str) -> str | None:
        """'en español por favor', 'can you speak Polish', '请说中文' -> the language asked for."""
        wanted = f" {normalise(text)} "
        found = [code for code, names in TYPED_NAMES.items() if code in self.languages
                 and any(f" {name} " in wanted or (not name.isascii() and name in wanted)
                         for name in names)]
        return found[0] if len(found) == 1 else None

    def _detected(self, state: State, turn: UserTurn) -> tuple[str, str] | None:
        """('switch' | 'ask', language) when the text is in another live language."""
        if turn.detected == state.lang:
            return None
        clear = self._clearly_in(turn)
        if clear is not None:
            return "switch", clear
        if turn.detected in self.languages and turn.intent not in (None, "out_of_scope", "nlu_fallback") \
                and turn.detected_p >= ASK_P and turn.words == SWITCH_WORDS - 1:
            return "ask", str(turn.detected)
        return None

    def respond(self, state: State, turn: UserTurn) -> tuple[State, list[Item]]:
        after, items = self._respond(state, turn)
        said = tuple(f"{i['flow']}/{i['step']}" for i in items if i["kind"] == ItemKind.STEP)
        if said:
            trail = after.trail + said
            menu = [n for n, entry in enumerate(trail) if entry.startswith(f"{MENU_FLOW}/")]
            # Only the way from the last visit to the menu: not older history.
            after = replace(after, trail=(trail[menu[-1]:] if menu else trail)[-TRAIL:])
        return after, items

    def _respond(self, state: State, turn: UserTurn) -> tuple[State, list[Item]]:
        items: list[Item] = []
        first = not state.started
        asked = state
        state = replace(state, asking=None)  # answered now, whatever the answer
        if turn.payload is None and turn.command is None and turn.text:
            seen_danger = self.danger_in(turn.text, state.lang)
            if seen_danger is not None:
                return self._danger(state, *seen_danger)
        if first:
            state = replace(state, started=True)
            preselected = self._preselect(turn)
            if preselected:
                state = replace(state, lang=preselected)  # greet in it; the picker confirms
            items.append({"kind": ItemKind.NOTICE, "key": "ui.greeting"})
        payload = turn.payload
        command, argument = turn.command, turn.argument
        if payload is None and command is None and self.at_pick_area(asked):
            picked = self.picks_areas(asked, turn.text)
            if picked is not None:
                return self._picked(state, picked, items)
            if areas.looks_like_zip(turn.text):
                return self._fallback(state, items, key=alerts.ZIP_CODE)
            long_topic = len(turn.text.split()) >= TOPIC_WORDS and turn.intent in self.topic_flows
            if self._typed_choice(asked, turn.text, turn.intent) is None and not long_topic:
                return self._fallback(state, items, key=alerts.UNKNOWN_AREA)
        if payload is None and command is None and self.at_cross_streets(asked):
            answer = self.streets_answer(asked, turn.text)
            if answer == STREETS_REFUSED:  # never kept; asked again, with "Skip"
                return self._fallback(state, items, key=streets.HOME_ADDRESS)
            if answer == STREETS_TAKEN:
                return self._streets(state, turn.text, items)
        if payload is None and command is None:
            choice = self._typed_choice(asked, turn.text, turn.intent)
            if choice is not None:
                payload = choice.payload
        if payload is not None and command is None:
            parsed = parse_command(payload)
            if parsed is not None:
                command, argument = parsed
        if command is not None:
            return self._command(state, command, argument, items)
        if payload is not None:
            return self._button(state, payload, items)
        intent = turn.intent or ""
        if intent == LANGUAGE_FLOW:
            requested = self.requested_language(turn.text)
            if requested is not None:
                return self._command(state, "lang", requested, items)
        if not first:
            seen = self._detected(state, turn)
            if seen is not None and seen[0] == "ask":
                return replace(state, asking=seen[1]), items + [
                    {"kind": ItemKind.ASK_LANGUAGE, "lang": seen[1], "flow": state.flow, "step": state.step}]
            if seen is not None:
                state = replace(state, lang=seen[1])
                items.append({"kind": ItemKind.NOTICE, "key": "ui.language_switched", "language": seen[1]})
        if intent in self.topic_flows:
            return self._enter(state, intent, items)
        if first:  # a greeting, or nothing we understood: let them choose the language
            return self._enter(state, LANGUAGE_FLOW, items)
        if intent == "greet":
            return self._enter(state, MENU_FLOW, items + [{"kind": ItemKind.NOTICE, "key": "ui.greeting"}])
        if intent == LANGUAGE_FLOW:
            return self._enter(state, LANGUAGE_FLOW, items)
        return self._fallback(state, items)

    def _command(self, state: State, command: str, argument: str | None,
                 items: list[Item]) -> tuple[State, list[Item]]:
        if command == "start":
            if argument in self.languages:
                state = replace(state, lang=str(argument))
            if not items:
                items.append({"kind": ItemKind.NOTICE, "key": "ui.greeting"})
            return self._enter(state, LANGUAGE_FLOW, items)  # preselected, never decided
        if command == "lang":
            if argument is None:
                return self._enter(state, LANGUAGE_FLOW, items)
            if argument not in self.languages:
                return self._enter(state, LANGUAGE_FLOW,
                                   items + [{"kind": ItemKind.NOTICE, "key": "ui.language_unavailable"}])
            # Back to where the resident was before the picker, or to where they are now.
            back = state.return_to if state.flow == LANGUAGE_FLOW else (
                (state.flow, state.step) if state.flow and state.step else None)
            state = replace(state, lang=str(argument), return_to=None)
            if not any(i.get("key") == "ui.greeting" for i in items):
                items.append({"kind": ItemKind.NOTICE, "key": "ui.language_set"})
            if back is not None and back[0] != LANGUAGE_FLOW and self.step(*back) is not None:
                # Back at that step for real, so "si" or "1" answers it, not the picker.
                state = replace(state, flow=back[0], step=back[1])
                return state, items + [self._step_item(state, back[0], back[1])]
            return self._enter(state, MENU_FLOW, items)
        if command in SYSTEM_COMMANDS:  # a ticket ended: say so, then the menu
            items.append({"kind": ItemKind.NOTICE, "key": SYSTEM_COMMANDS[command]})
            return self._enter(state, MENU_FLOW, items)
        if command == "stop":  # nothing to stop (no ticket was open): the menu
            return self._enter(state, MENU_FLOW, items)
        if command in MEDIA_COMMANDS:  # a photo, voice note, sticker...: we read text only
            return self._fallback(state, items, key=MEDIA_COMMANDS[command])
        if command == "bot":  # the bot's guidance again, where the resident is (while waiting)
            if state.flow is not None and state.step is not None and \
                    self.step(state.flow, state.step) is not None:
                return state, items + [self._step_item(state, state.flow, state.step)]
            return self._enter(state, MENU_FLOW, items)
        if command == "resume":
            if state.flow is not None and state.step is not None and \
                    self.step(state.flow, state.step) is not None:
                if not items:
                    items.append({"kind": ItemKind.NOTICE, "key": "ui.welcome_back"})
                return state, items + [self._step_item(state, state.flow, state.step)]
            return self._enter(state, MENU_FLOW, items)
        if command == "alerts" and (argument or "").lower() == "off":
            return self._enter(state, STOP_ALERTS_FLOW, items)
        flow = COMMAND_FLOWS.get(command)
        if flow is None or flow not in self.flows:
            return self._fallback(state, items)
        return self._enter(state, flow, items)

    def _button(self, state: State, payload: str, items: list[Item]) -> tuple[State, list[Item]]:
        flow_id, sep, rest = payload.partition(":")
        step_id, sep2, target = rest.partition(">")
        step = self.step(flow_id, step_id) if sep and sep2 else None
        option = step.option_for(*split_target(target)) if step is not None else None
        if step is None or option is None:
            return self._fallback(state, items)  # unknown payload, or a step edited away
        if state.flow != flow_id:  # a button of another flow's message: start afresh there
            state = state.collected()
        if step.collect is not None and option.value is not None:
            answers = tuple((k, v) for k, v in state.answers if k != step.collect)
            state = replace(state, answers=answers + ((step.collect, option.value),))
        if option.flow is not None:
            return self._enter(state, option.flow, items)
        if option.goto is None:  # the flow schema gives every option a goto or a flow
            return self._fallback(state, items)
        return self._walk(state, flow_id, option.goto, items)

    def _enter(self, state: State, flow_id: str, items: list[Item]) -> tuple[State, list[Item]]:
        if flow_id == LANGUAGE_FLOW:
            if state.flow not in (LANGUAGE_FLOW, None) and state.step is not None:
                state = replace(state, return_to=(str(state.flow), state.step))
        else:  # a flow starts afresh: what another (or an earlier visit) collected goes
            state = state.collected()
        return self._walk(state, flow_id, self.flows[flow_id].first.id, items)

    def _walk(self, state: State, flow_id: str, step_id: str,
              items: list[Item]) -> tuple[State, list[Item]]:
        """Say steps one after another until one waits for the resident."""
        items = list(items)
        # Where help was asked for: the topic the resident was in, if they ask from there,
        # and whether someone is in danger there (the flow's or the step's `urgent`).
        asked_in = state.flow if state.flow in self.topic_flows - {HUMAN_FLOW, DELETE_FLOW} else HUMAN_FLOW
        asked_at = self.step(state.flow, state.step)
        urgent_there = asked_in != HUMAN_FLOW and (self.flows[asked_in].urgent or bool(
            asked_at is not None and asked_at.urgent))
        if flow_id != LANGUAGE_FLOW:
            state = replace(state, return_to=None)  # the picker's way back is stale now
        deferred = False  # an urgent first answer was said: the disclaimer waits for the next turn
        for _ in range(MAX_CHAIN):
            step = self.flows[flow_id].steps[step_id]
            if step.action in USES_ANSWERS and self._missing(state, flow_id):
                # An old "Done" or "Yes" tapped after the flow was left: nothing to file.
                # Ask again from the flow's first question instead of confirming nothing.
                again = self._first_question(flow_id)
                if again is not None and again != step_id:
                    step_id = again
                    continue
            deferred = deferred or (step.action == "handoff"
                                    and (self.flows[flow_id].urgent or step.urgent))
            if self.flows[flow_id].disclaimer and not state.disclaimer_shown \
                    and self.is_legal(step.say) and not deferred:
                # Before the first rights text, however it was reached (menu, old button);
                # not before a question ("Are they at your door now?"), and not before the
                # first answer to someone in danger: what to do comes first, this follows.
                state = replace(state, disclaimer_shown=True)
                items.append({"kind": ItemKind.NOTICE, "key": "ui.disclaimer"})
            items.append(self._step_item(state, flow_id, step_id))
            if step.action in USES_ANSWERS:
                items[-1]["answers"] = dict(state.answers)
                state = state.collected()  # used once: held no longer than the flow needs it
            if step.action == "handoff":
                escalates = flow_id != HUMAN_FLOW  # the step itself calls the hotline
                items[-1]["topic"] = flow_id if escalates else asked_in
                items[-1]["urgent"] = (self.flows[flow_id].urgent or step.urgent) if escalates \
                    else urgent_there
            if step.next is not None:
                step_id = step.next
            elif step.next_flow is not None:
                flow_id, step_id = step.next_flow, self.flows[step.next_flow].first.id
                state = state.collected()
            else:
                break
        return replace(state, flow=flow_id, step=step_id), items

    def _missing(self, state: State, flow_id: str) -> bool:
        """Whether something the flow asks for is not collected: no area, or a `collect:`
        step never answered (its button tapped in an old message, out of order)."""
        asked = {s.collect for s in self.flows[flow_id].steps.values() if s.collect}
        return not state.areas or not asked <= {name for name, _ in state.answers}

    def _first_question(self, flow_id: str) -> str | None:
        """The first step of a flow that collects something (an area, a button's value)."""
        return next((s.id for s in self.flows[flow_id].steps.values()
                     if s.action == PICK_AREA or s.collect is not None), None)

    def _step_item(self, state: State, flow_id: str, step_id: str) -> Item:
        """A step said: with the areas picked so far, which its text may name ({areas})."""
        item: Item = {"kind": ItemKind.STEP, "flow": flow_id, "step": step_id}
        if state.areas:
            item["areas"] = list(state.areas)
        return item

    def _danger(self, state: State, kind: str, lang: str) -> tuple[State, list[Item]]:
        """One short message in the language of the words, with the buttons of where the
        resident is; it asks the engine for an urgent ticket (or to make theirs urgent)."""
        state = replace(state, lang=lang, started=True)
        if self.step(state.flow, state.step) is None:
            state = replace(state, flow=MENU_FLOW, step=self.flows[MENU_FLOW].first.id)
        topic = state.flow if state.flow in self.topic_flows - {HUMAN_FLOW, DELETE_FLOW} else HUMAN_FLOW
        return state, [{"kind": ItemKind.DANGER, "key": f"danger.{kind}", "flow": state.flow,
                        "step": state.step, "topic": topic, "urgent": True}]

    def _fallback(self, state: State, items: list[Item],
                  key: str = "ui.fallback") -> tuple[State, list[Item]]:
        if self.step(state.flow, state.step) is None:
            # Nowhere to return to (new conversation, or the step was edited away).
            state = replace(state, flow=MENU_FLOW, step=self.flows[MENU_FLOW].first.id)
        return state, items + [{"kind": ItemKind.FALLBACK, "flow": state.flow, "step": state.step,
                                "key": key}]
