"""The engine every channel talks to: InboundMessage in, OutboundMessages out, via Rasa."""

from __future__ import annotations

import datetime
import logging
import re
import unicodedata
import warnings
from typing import Any, Callable, Dict, List, Optional, Text

from rasa.core.agent import Agent
from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.core.content import require_content
from bot.core.dialogue import Dialogue, parse_command
from bot.core.handoff import Place, hotline_open, status_messages
from bot.core.flows import require_flows
from bot.core.i18n import Catalogs
from bot.core.languages import NATIVE_NAMES
from bot.core.messages import Button, InboundMessage, OutboundMessage
from bot.core.render import Renderer
from bot.engine import runtime, slots, speedups, training
from bot.catalogs.checks import live_languages
from bot.engine.language import LanguageDetector, word_count
from bot.engine.nlg import BabelNLG
from bot.engine.policy import BUTTON_INTENT, COMMAND_INTENT
from bot.handoff.tickets import RESIDENT, SYSTEM, Ticket, TicketService
from bot.identity import resident_key
from bot.settings import Settings
from bot.storage.addresses import AddressBook
from bot.storage import once
from bot.storage.db import make_engine, utc_now
from bot.storage.tracker_store import KyrTrackerStore

logger = logging.getLogger(__name__)


def silence_rasa_event_logs() -> None:
    """Rasa's structlog prints every event, resident text included, at debug level.

    Logs must carry no message text, phone number or chat id: keep warnings and up only.
    """
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    # Rasa's UserWarnings can quote the message being parsed.
    warnings.filterwarnings("ignore", module=r"rasa\.")

MAX_TEXT = 1000  # NLU reads at most this much; a resident's essay still gets an answer
MAX_TRANSCRIPT_LINE = 4096  # what staff read: a whole Telegram message (WhatsApp's is shorter)
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")  # "es", "zh_Hans"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int = MAX_TEXT, keep_lines: bool = False) -> str:
    """Drop control characters and unpaired surrogates; keep emoji and every script."""
    text = (_CONTROL_KEEP_LINES if keep_lines else _CONTROL).sub(" ", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    return text.strip()[:limit]


class CollectingChannel(OutputChannel):
    """Keeps Rasa's bot messages whole (Rasa's own collector splits them on blank lines)."""

    def __init__(self) -> None:
        self.messages: List[Dict[Text, Any]] = []

    @classmethod
    def name(cls) -> Text:
        return "kyr"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.messages.append(message)


def to_outbound(message: Dict[Text, Any]) -> List[OutboundMessage]:
    """One Rasa bot message -> the OutboundMessages our NLG packed into it."""
    packed = message.get("kyr")
    if not isinstance(packed, list):  # not from our NLG: keep what Rasa gives
        buttons = tuple(Button(b["title"], b["payload"]) for b in message.get("buttons") or [])
        return [OutboundMessage(text=message.get("text") or "", buttons=buttons)]
    return [OutboundMessage(text=m["text"], buttons=tuple(Button(t, p) for t, p in m["buttons"]),
                            lang=m["lang"], flow=m["flow"], step=m["step"], action=m["action"],
                            topic=m.get("topic"), urgent=bool(m.get("urgent")))
            for m in packed]


class Engine:
    def __init__(self, settings: Settings, agent: Agent, store: KyrTrackerStore,
                 renderer: Renderer, detector: Optional[LanguageDetector] = None) -> None:
        self.settings = settings
        self.agent = agent
        self.store = store
        self.renderer = renderer
        self.detector = detector
        self._secret = settings.secret_key()
        # Handoff: the one ticket service (the console uses the same), and how to reach a
        # resident whose ticket is open (their platform id, sealed).
        self.tickets = TicketService(store.engine, self._secret)
        self.addresses = AddressBook(store.engine, self._secret)
        self.clock: Callable[[], datetime.datetime] = utc_now  # tests set the hotline's hour

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages offered to residents (configured, with a catalog that passes)."""
        return self.renderer.dialogue.languages

    @classmethod
    def load(cls, settings: Settings) -> "Engine":
        silence_rasa_event_logs()
        flows = require_flows(settings.flows_dir)
        content = require_content(settings.content_dir)
        languages, dropped = live_languages(settings.home, settings.languages)
        for lang, errors in dropped.items():
            logger.warning("language %s is not offered: %s", lang,
                           "no compiled catalog (run 'kyr i18n compile')" if errors < 0 else
                           f"{errors} catalog error(s) (run 'kyr content check')")
        catalogs = Catalogs(settings.locales_dir, languages)
        renderer: Renderer
        dialogue = Dialogue(flows, lambda lang, key: renderer.label(lang, key),
                            languages, NATIVE_NAMES)
        renderer = Renderer(content, catalogs, dialogue)
        runtime.install(runtime.Runtime(dialogue=dialogue, renderer=renderer))
        path = training.model_path(settings)
        if not path.exists():
            raise SystemExit(f"no trained model at {path}: run 'kyr train' first")
        if not training.is_current(settings):
            logger.warning("the model is older than flows/ or the NLU data: run 'kyr train'")
        store = KyrTrackerStore(None, make_engine(settings.database_url))
        speedups.install()
        agent = Agent.load(str(path), generator=BabelNLG(), tracker_store=store)
        if not agent.is_ready():
            raise SystemExit(f"the Rasa model at {path} could not be loaded")
        detector_file = training.language_model_path(settings)
        detector = LanguageDetector(detector_file, languages) if detector_file.exists() else None
        engine = cls(settings, agent, store, renderer, detector)
        engine.purge_expired()
        return engine

    def purge_expired(self) -> None:
        """What the retention settings say must go: at start, and hourly in `kyr serve`."""
        days, hours = self.settings.retention_days, self.settings.transcript_hours
        purged = self.store.purge(datetime.timedelta(days=days))
        if purged:
            logger.warning("deleted %d conversation(s) idle for over %d days", purged, days)
        once.forget_old(self.store.engine)  # handled-once keys of webhooks, after 3 days
        purged = self.tickets.purge_transcripts(datetime.timedelta(hours=hours))
        if purged:
            logger.warning("deleted the text of %d transcript line(s) of tickets closed over "
                           "%d hours ago", purged, hours)

    def _catalogs_pass(self) -> bool:
        """Recompiled catalogs go live only if every live language still passes the checks."""
        _, dropped = live_languages(self.settings.home, self.languages)
        if dropped:
            logger.warning("recompiled catalogs not loaded: %s fail the checks (run 'kyr content "
                           "check'); the previous ones stay live", ", ".join(sorted(dropped)))
        return not dropped

    def resident(self, inbound: InboundMessage) -> str:
        return resident_key(self._secret, inbound.channel, inbound.user)

    def _user_message(self, sender: str, inbound: InboundMessage,
                      channel: OutputChannel) -> UserMessage:
        """Buttons and our /commands skip NLU; all other text goes through Rasa's NLU.

        Text may not reach Rasa starting with "/": Rasa would read it as its own intent
        syntax (letting a resident pick any intent, and logging the text when it fails).
        """
        parse_data: Optional[Dict[Text, Any]] = None
        text = clean_text(inbound.text or "")
        if inbound.media is not None:  # a photo, voice note...: answered "I read text only"
            text = ""
            parse_data = self._command("", ("media", None))
        elif inbound.payload is not None:
            payload = clean_text(inbound.payload)[:200]
            command = parse_command(payload)
            text = payload
            if command is not None:
                parse_data = self._command(text, command)
            else:
                parse_data = {"intent": {"name": BUTTON_INTENT, "confidence": 1.0},
                              "entities": [{"entity": "payload", "value": payload}], "text": text}
        else:
            command = parse_command(text)
            if command is not None:
                parse_data = self._command(text, command)
            else:
                text = text.lstrip("/").strip()
                if not text:  # an empty line: nothing to understand, say so kindly
                    parse_data = {"intent": {"name": "nlu_fallback", "confidence": 1.0},
                                  "entities": [], "text": ""}
        metadata: Dict[Text, Any] = {}
        if inbound.lang_hint:
            metadata["kyr_hint"] = inbound.lang_hint[:20]
        if parse_data is None and self.detector is not None:
            lang, confidence = self.detector.detect(text)
            metadata.update(kyr_lang=lang, kyr_lang_p=confidence, kyr_words=word_count(text))
        return UserMessage(text, channel, sender_id=sender, parse_data=parse_data,
                           input_channel=inbound.channel, metadata=metadata or None)

    def _command(self, text: str, command: tuple[str, Optional[str]]) -> Dict[Text, Any]:
        name, argument = command
        entities = [{"entity": "command", "value": name}]
        # The only argument the dialogue uses is a language code (offered or not, so that
        # "/lang de" can say it is not offered); anything else a resident typed after a
        # command (a name, an address) is dropped, never stored.
        if argument and LANGUAGE_CODE.fullmatch(argument):
            entities.append({"entity": "argument", "value": argument})
        return {"intent": {"name": COMMAND_INTENT, "confidence": 1.0},
                "entities": entities, "text": text}

    async def handle(self, inbound: InboundMessage) -> List[OutboundMessage]:
        self.renderer.reload_if_changed(self._catalogs_pass)  # `kyr i18n compile` goes live
        sender = self.resident(inbound)
        ticket = self.tickets.open_for(sender)
        if ticket is not None:
            answered = await self._while_waiting(ticket, inbound)
            if answered is not None:
                return answered
        replies = await self._run(self._user_message(sender, inbound, CollectingChannel()))
        if any(r.action == "delete_my_data" for r in replies):
            self.tickets.erase_resident(sender)
            await self.store.delete(sender)
        else:
            asked = next((r for r in replies if r.action == "handoff"), None)
            if asked is not None and ticket is None:
                try:
                    replies += await self._open_ticket(sender, inbound, asked)
                except Exception:  # the rights script still goes out; its text names the hotline
                    logger.exception("a ticket could not be opened")
            elif asked is not None and asked.urgent and ticket is not None:
                # Waiting already, then "yes, they are at my door now": urgent from here on.
                self.tickets.escalate(ticket.id)
        return replies

    async def _run(self, message: UserMessage) -> List[OutboundMessage]:
        channel = message.output_channel
        assert isinstance(channel, CollectingChannel)
        await self.agent.handle_message(message)
        replies = [out for m in channel.messages for out in to_outbound(m)]
        if not replies:
            # Never silence: if Rasa produced nothing, the resident still gets an answer.
            logger.error("engine produced no reply; sending the fallback")
            replies = [self.renderer.render({"kind": "fallback", "flow": "main_menu",
                                             "step": "menu"}, "en")]
        return replies

    # ---- handoff ----

    def place(self, ticket: Ticket, already_waiting: bool = False) -> Place:
        return Place(self.tickets.position(ticket.id), self.tickets.expected_wait(),
                     hotline_open(self.renderer.content, self.clock()), already_waiting)

    async def _open_ticket(self, sender: str, inbound: InboundMessage,
                           asked: OutboundMessage) -> List[OutboundMessage]:
        tracker = await self.store.retrieve(sender)
        trail = slots.state_from(tracker.get_slot(slots.STATE)).trail if tracker else ()
        open_now = hotline_open(self.renderer.content, self.clock())
        self.addresses.remember(sender, inbound.user)  # staff replies must reach them
        ticket = self.tickets.open(sender, inbound.channel, asked.topic or "talk_to_person",
                                   asked.lang, trail, after_hours=not open_now, urgent=asked.urgent)
        logger.info("ticket %d opened (%s, %s)", ticket.id, ticket.topic, ticket.priority)
        return status_messages(self.renderer, asked.lang, self.place(ticket))

    async def _while_waiting(self, ticket: Ticket,
                             inbound: InboundMessage) -> Optional[List[OutboundMessage]]:
        """While a ticket is open, what the resident writes goes to staff and the bot is
        quiet. Buttons of the rights scripts still answer; /menu and /stop end the wait.

        Returns the replies, or None to let the dialogue answer as usual.
        """
        # Whatever the resident sends reopens WhatsApp's 24-hour window (last_inbound_at).
        if inbound.media is not None:  # staff cannot see it: the bot says it reads text only
            self.tickets.add_message(ticket.id, "bot", SYSTEM,
                                     f"The resident sent a {inbound.media[:20]}; it was not kept. "
                                     "They were told that only text is read.", resident_acted=True)
            return None
        raw = clean_text(inbound.payload if inbound.payload is not None else inbound.text or "")
        command = parse_command(raw)
        if command is None and inbound.payload is not None:  # a rights-script button
            self.tickets.add_message(ticket.id, "bot", SYSTEM, f"The resident tapped a button: {raw[:80]}",
                                     resident_acted=True)
            return None
        if command is None:
            whole = clean_text(inbound.text or "", MAX_TRANSCRIPT_LINE, keep_lines=True)
            if not whole:
                return []
            self.tickets.add_message(ticket.id, RESIDENT, RESIDENT, whole)
            # An answer to the question the bot just asked ("no", "2") is still the bot's to
            # answer (agents at the door: "is it signed by a judge?"); the rest is for staff.
            # A typed number or word that names "Main menu" or "Talk to a person" is for
            # staff too ("how many officers?" "5"): only /menu, /stop or a tap end the wait.
            tracker = await self.store.retrieve(ticket.resident)
            state = slots.state_from(tracker.get_slot(slots.STATE)) if tracker else None
            answer = self.renderer.dialogue.typed_payload(state, raw) if state else None
            return [] if answer is None or parse_command(answer) is not None else None
        self.tickets.seen(ticket.id)
        name = command[0]
        if name in ("menu", "stop"):
            self.tickets.close(ticket.id, "resident", "resident stopped waiting")
            self.addresses.forget(ticket.resident)
            return await self.system_turn(ticket.resident, "handoff_stopped", inbound.channel)
        if name == "human":
            return status_messages(self.renderer, ticket.language, self.place(ticket, True))
        return None  # /lang, /help, /delete...: the dialogue answers

    async def system_turn(self, resident: str, command: str, channel: str) -> List[OutboundMessage]:
        """A turn the engine starts itself (a ticket ended): the dialogue's answer to it."""
        parse_data = self._command("", (command, None))
        return await self._run(UserMessage("", CollectingChannel(), sender_id=resident,
                                           parse_data=parse_data, input_channel=channel))

    async def has_conversation(self, inbound: InboundMessage) -> bool:
        return await self.store.retrieve(self.resident(inbound)) is not None
