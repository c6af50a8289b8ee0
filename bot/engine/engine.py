"""The Rasa turn: a resident's message in, the bot's replies out, through the Rasa agent.

Only the turn lives here (NLU, the flow policy, the Babel NLG, the tracker store). What a
turn leads to (a ticket, an erasure) is the application's: see bot.app.conversation.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import OutputChannel, UserMessage
from sqlalchemy.engine import Connection

from bot.core.dialogue import ItemKind, State
from bot.core.messages import InboundMessage, OutboundMessage
from bot.core.problems import StartupError
from bot.core.render import Renderer
from bot.engine import codec, runtime, slots, speedups, training
from bot.engine.language import LanguageDetector, word_count
from bot.engine.nlg import BabelNLG
from bot.settings import Settings
from bot.storage.tracker_store import KyrTrackerStore, Stored

logger = logging.getLogger(__name__)


def silence_rasa_event_logs() -> None:
    """Rasa's structlog prints every event, resident text included, at debug level.

    Logs must carry no message text, phone number or chat id: keep warnings and up only.
    """
    import structlog

    # Cached on first use: Rasa's module-level loggers are lazy proxies that otherwise build
    # a new bound logger for every call, debug calls that print nothing included (a few
    # percent of a button press in a profile).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        cache_logger_on_first_use=True)
    # Rasa's UserWarnings can quote the message being parsed.
    warnings.filterwarnings("ignore", module=r"rasa\.")


class CollectingChannel(OutputChannel):
    """Keeps Rasa's bot messages whole (Rasa's own collector splits them on blank lines)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "kyr"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.messages.append(message)


class Engine:
    def __init__(self, agent: Agent, store: KyrTrackerStore, renderer: Renderer,
                 detector: LanguageDetector | None = None) -> None:
        self.agent = agent
        self.store = store
        self.renderer = renderer
        self.detector = detector

    @classmethod
    def load(cls, settings: Settings, renderer: Renderer, store: KyrTrackerStore) -> "Engine":
        """The trained model, run over the live flows and catalogs that `renderer` holds."""
        silence_rasa_event_logs()
        runtime.install(runtime.Runtime(dialogue=renderer.dialogue, renderer=renderer))
        path = training.model_path(settings)
        if not path.exists():
            raise StartupError(f"no trained model at {path}: run 'kyr train' first")
        if not training.is_current(settings):
            logger.warning("the model is older than flows/ or the NLU data: run 'kyr train'")
        speedups.install()
        agent = Agent.load(str(path), generator=BabelNLG(), tracker_store=store,
                           lock_store=speedups.TurnLocks())
        if not agent.is_ready():
            raise StartupError(f"the Rasa model at {path} could not be loaded")
        detector_file: Path = training.language_model_path(settings)
        languages = renderer.dialogue.languages
        detector = LanguageDetector(detector_file, languages) if detector_file.exists() else None
        return cls(agent, store, renderer, detector)

    def encode(self, inbound: InboundMessage) -> codec.Encoded:
        detect = self.detector.detect if self.detector is not None else None
        return codec.encode(inbound, detect, word_count)

    def stored(self, connection: Connection, sender: str) -> Stored:
        """The conversation's stored row, read on the caller's connection (the application's
        first trip to the database in a turn), for `turn` to start from."""
        return self.store.read_now(connection, sender)

    async def turn(self, sender: str, inbound: InboundMessage,
                   stored: Stored | None = None) -> list[OutboundMessage]:
        """One resident turn through Rasa; never an empty answer. `stored`: the
        conversation as `stored()` read it just before, so Rasa does not read it again."""
        with self.store.preloaded(stored):
            return await self._run(sender, self.encode(inbound), inbound.channel)

    async def command(self, sender: str, name: str, channel: str) -> list[OutboundMessage]:
        """A turn the application starts itself (a ticket ended): the dialogue's answer."""
        return await self._run(sender, codec.encode_command(name), channel)

    async def _run(self, sender: str, turn: codec.Encoded, channel: str) -> list[OutboundMessage]:
        collector = CollectingChannel()
        await self.agent.handle_message(UserMessage(
            turn.text, collector, sender_id=sender, parse_data=turn.parse_data,
            input_channel=channel, metadata=turn.metadata))
        replies = [out for m in collector.messages for out in codec.unpack(m)]
        if not replies:
            # Never silence: if Rasa produced nothing, the resident still gets an answer.
            logger.error("engine produced no reply; sending the fallback")
            replies = [self.renderer.render({"kind": ItemKind.FALLBACK, "flow": "main_menu",
                                             "step": "menu"}, "en")]
        return replies

    async def state(self, sender: str) -> State | None:
        """Where the conversation is in the flows; None before its first turn."""
        tracker = await self.store.retrieve(sender)
        return slots.state_from(tracker.get_slot(slots.STATE)) if tracker is not None else None

    async def has_conversation(self, sender: str) -> bool:
        return await self.store.retrieve(sender) is not None
