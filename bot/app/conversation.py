"""The conversation service: an inbound message in, the replies and their effects out.

Every channel hands its messages here. One message is: the ticket check (while a ticket
is open, what the resident writes also goes to staff), the Rasa turn, and what the turn
asks for (open or escalate a ticket, erase the resident's data, subscribe to alerts or
stop them, file a report for the network's dispatchers).

While a ticket waits the bot keeps guiding until a staff member has written; then it
steps back for free text. Danger is answered at once in any state (ARCHITECTURE.md,
"Handoff").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from dataclasses import replace
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.core import actors, alerts
from bot.core.alerts import consent_version
from bot.core.dialogue import ALERTS_OFF, HUMAN_FLOW, STREETS_REFUSED, STREETS_TAKEN, parse_command
from bot.core.handoff import (STOP_PAYLOAD, Place, arrange_urgent, hotline_languages, hotline_open,
                              status_messages, urgent_status)
from bot.core import media as media_
from bot.core.messages import Button, InboundMessage, OutboundMessage
from bot.core.render import Renderer
from bot.core.streets import CROSS_STREETS
from bot.engine.codec import HANDOFF, clean_text
from bot.engine.engine import Engine
from bot.storage.tracker_store import Stored
from bot.handoff.staff import StaffDirectory
from bot.handoff.tickets import BUTTON, RESIDENT, SYSTEM, Ticket, TicketError, TicketService
from bot.app import counters as counting
from bot.app.counters import Counters
from bot.app.held import HeldAnswers
from bot.app.residents import ALERTS, TICKET, Residents
from bot.network.reports import ReportService
from bot.network.subscriptions import Subscriptions
from bot.storage.db import transaction, utc_now
from bot.storage import unit
from bot.storage.offload import off_loop

logger = logging.getLogger(__name__)

_TURN_COUNTS = itertools.count()  # keys of the counts a turn holds (bot.storage.unit)

MAX_TRANSCRIPT_LINE = 4096  # what staff read: a whole Telegram message (WhatsApp's is shorter)
DELETE_MY_DATA = "delete_my_data"  # the action of the item that erases the resident's data
RECEIPT_EVERY = dt.timedelta(minutes=5)  # "the hotline sees your messages", at most this often
RECEIPT, QUIET = "receipt", "quiet"  # ticket events: the bot told the resident so (no text)
MEDIA_RECEIPT = "media_receipt"  # "the hotline received it", at most every RECEIPT_EVERY
MEDIA_WORDS = {media_.PHOTO: "photo", media_.VOICE: "voice note", media_.AUDIO: "audio file"}
SUBSCRIBE, UNSUBSCRIBE, FILE_REPORT = "subscribe", "unsubscribe", "file_report"  # step actions
NETWORK_ACTIONS = (SUBSCRIBE, UNSUBSCRIBE, FILE_REPORT)
ONGOING = {"yes": True, "no": False, "not_sure": None}  # "Is it still happening?"
NOT_SAVED = alerts.NOT_SAVED
# What staff read in the transcript instead of typed cross streets (which only the report
# keeps, sealed) or of a home address typed there (kept nowhere).
STREETS_LINES = {
    STREETS_TAKEN: "The resident typed the nearest cross streets for the report: they are kept on "
             "the report only, not in this transcript.",
    STREETS_REFUSED: "The resident typed what reads as a home address for the report's cross "
                     "streets: it was not kept, and they were asked for cross streets instead.",
}


def consent_method(inbound: InboundMessage) -> str:
    """How the resident agreed, for the consent record: a tap, a typed answer, a command."""
    said = inbound.payload if inbound.payload is not None else (inbound.text or "")
    if said.strip().startswith("/"):
        return "command"
    return "button" if inbound.payload is not None else "typed"


def staff_presence(db: sa.engine.Engine) -> Callable[[], set[str] | None]:
    """The console's "on shift" presence as the languages staff answer in now, or None
    when it is not known (no console accounts: the terminal, a test). Read at each ticket,
    never cached: a volunteer answering at 1 am counts, one who went off at 10 pm does not."""
    staff = StaffDirectory(db)

    def languages() -> set[str] | None:
        return staff.on_shift_languages() if staff.names() else None

    return languages


class ConversationService:
    def __init__(self, engine: Engine, tickets: TicketService, residents: Residents,
                 renderer: Renderer, reload: Callable[[], object] = lambda: None,
                 counters: Counters | None = None, held: HeldAnswers | None = None) -> None:
        self.engine = engine
        self.counters = counters  # the transparency report's counts (None: not counted)
        self.held = held  # opens the typed answers the state held sealed (cross streets)
        self.tickets = tickets
        self.db = tickets.engine  # one database: a turn's first reads share a connection
        self.residents = residents
        self.renderer = renderer
        self.clock: Callable[[], dt.datetime] = utc_now  # tests set the hotline's hour
        renderer.clock = lambda: self.clock()  # {line_now}: the line open at this hour
        self.reload = reload  # recompiled catalogs that passed their checks go live
        # Languages of the staff on shift now, from the console; None where that is not
        # known (no console accounts): then the hotline's hours in content decide.
        self.presence: Callable[[], set[str] | None] = lambda: None
        # The channel that fetches a photo or voice note, by channel name (set by whoever
        # runs the channels; None: media are not fetched and the resident is told so).
        self.media_source: Callable[[str], Optional[media_.MediaSource]] = lambda channel: None
        # The network's services (bot.network): who gets alerts, and the reports queue.
        # None where they are not composed (then STOP words are read as any text).
        self.subscriptions: Subscriptions | None = None
        self.reports: ReportService | None = None

    def resident(self, inbound: InboundMessage) -> str:
        return self.residents.key(inbound.channel, inbound.user)

    async def handle(self, inbound: InboundMessage) -> list[OutboundMessage]:
        """The replies to one message. The turn's own writes (the conversation, its counts)
        are held and committed together: by the inbox worker with the replies and the
        row's "done" (bot.app.worker), or here, in one transaction, when the message came
        another way (the terminal; a caller that is not a worker)."""
        if unit.current() is not None:
            return await self._handle(inbound)
        with unit.holding() as held:
            replies = await self._handle(inbound)
        if len(held):
            await off_loop(self._commit, held)
        return replies

    def _commit(self, held: unit.Held) -> None:
        with transaction(self.db) as connection:
            held.commit(connection)

    async def _handle(self, inbound: InboundMessage) -> list[OutboundMessage]:
        self.reload()
        sender = self.resident(inbound)
        inbound, ticket, first = await off_loop(self._before_turn, sender, inbound)
        started = ticket is None and first.raw is None  # no conversation stored yet
        stored: Stored | None = first
        if ticket is not None:
            await self._remember_reply_ref(ticket, inbound)
            answered = await self._while_waiting(ticket, inbound)
            if answered is not None:
                return answered
            stored = None  # the wait's own writes came between: the turn reads afresh
        replies = await self.engine.turn(sender, inbound, stored)
        self._count(inbound, replies, started)
        replies = await self._effects(sender, inbound, ticket, replies)
        if ticket is not None:
            replies = await off_loop(self._guided_while_waiting, ticket, inbound, replies)
        return replies

    def _before_turn(self, sender: str, inbound: InboundMessage
                     ) -> tuple[InboundMessage, Ticket | None, Stored]:
        """What the turn needs to know first, in one trip to the database thread and one
        transaction: the one ticket read of the turn, the stored conversation (the turn
        starts from it, and none stored means this message starts one, for the counts),
        and the message as the alerts read it."""
        with transaction(self.db) as connection:
            ticket = self.tickets.open_for(sender, connection)
            stored = self.engine.stored(connection, sender)
            if self.subscriptions is not None:
                inbound = self._alerts_inbound(sender, inbound, connection)
        return inbound, ticket, stored

    def _alerts_inbound(self, sender: str, inbound: InboundMessage,
                        connection: Connection | None = None) -> InboundMessage:
        """A subscriber wrote: WhatsApp's window restarts; a whole message that is a STOP
        word ("stop", "baja") becomes /alerts off, at any step and while a ticket waits
        (/stop still ends a wait). From anyone else, "stop" is read as it always was."""
        if self.subscriptions is None:
            return inbound
        self.subscriptions.seen(sender, self.clock(), connection)
        text = inbound.text or ""
        if inbound.payload is not None or inbound.media is not None or len(text) > 40 \
                or parse_command(text) is not None:  # "/stop" ends a wait, as it always did
            return inbound
        if self.renderer.dialogue.is_stop_word(clean_text(text)) and \
                self.subscriptions.get(sender) is not None:
            return replace(inbound, text=None, payload=ALERTS_OFF)
        return inbound

    def _count(self, inbound: InboundMessage, replies: list[OutboundMessage],
               started: bool) -> None:
        """The turn's counts: a conversation started, topics opened, a deletion confirmed,
        held with the turn's other writes (counted once, even when a turn runs again after
        a crash). (Tickets count themselves, in their own transactions: TicketService's
        observer.)"""
        held = unit.current()
        if self.counters is None or held is None:
            return
        events: list[tuple[str, dict[str, object]]] = []
        lang = replies[-1].lang if replies else "en"
        if started:
            events.append((counting.CONVERSATIONS, {"language": lang, "channel": inbound.channel}))
        dialogue = self.renderer.dialogue
        entered = {r.flow: r.lang for r in replies if r.flow in dialogue.topic_flows
                   and r.step == dialogue.flows[r.flow].first.id}
        events += [(counting.TOPICS, {"topic": topic, "language": language})
                   for topic, language in sorted(entered.items())]
        if any(r.action == DELETE_MY_DATA for r in replies):
            events.append((counting.DELETIONS, {"channel": inbound.channel, "language": lang}))
        try:
            rows = self.counters.rows_of(events)
        except ValueError:  # a count is never worth a resident's answer
            logger.exception("counters could not be computed")
            return
        if rows:
            held.hold(f"counts:{next(_TURN_COUNTS)}", rows,
                      lambda connection: Counters.write_rows(connection, rows), last=True)

    async def _effects(self, sender: str, inbound: InboundMessage, ticket: Ticket | None,
                       replies: list[OutboundMessage]) -> list[OutboundMessage]:
        """What the turn asked for; returns the replies with what it adds (the place in
        line; for someone in danger, placed before the question)."""
        if any(r.action == DELETE_MY_DATA for r in replies):
            await self.residents.erase(sender)
            return replies
        for n, reply in enumerate(replies):
            if reply.action in NETWORK_ACTIONS:
                # Used once: the sealed cross streets go no further (not to the outbox).
                replies[n] = replace(reply, answers=tuple(
                    a for a in reply.answers if a[0] != CROSS_STREETS))
                try:
                    await off_loop(self._network_effect, sender, inbound, ticket, reply)
                except Exception:  # the resident must not be told it worked
                    logger.exception("the %s effect failed", reply.action)
                    replies = replies[:n + 1] + [OutboundMessage(
                        self.renderer.text(reply.lang, NOT_SAVED), reply.buttons, reply.lang,
                        "system", "not_saved")] + replies[n + 1:]
                    replies[n] = replace(replies[n], buttons=())
                break
        asked = next((r for r in replies if r.action == HANDOFF), None)
        if asked is None:
            return replies
        if ticket is None:
            try:
                return await off_loop(self._open_ticket, sender, inbound, asked, replies)
            except Exception:  # the rights script still goes out; its text names the hotline
                logger.exception("a ticket could not be opened")
        elif asked.urgent:
            # Waiting already, then "yes, they are at my door now" or "they are breaking the
            # door": urgent from here on, and the console alerts.
            if await off_loop(self.tickets.escalate, ticket.id):
                logger.info("ticket %d made urgent", ticket.id)
        return replies

    def _network_effect(self, sender: str, inbound: InboundMessage, ticket: Ticket | None,
                        reply: OutboundMessage) -> None:
        """Subscribe (with the consent: time, how, the wording's version), stop, or file
        the report the flow collected, against the open ticket if there is one."""
        if reply.action == SUBSCRIBE:
            if self.subscriptions is None or not reply.areas:
                raise RuntimeError("no subscriptions service, or no areas picked")
            step = self.renderer.dialogue.step(reply.flow, reply.step)
            if step is None:  # the flow was edited between the turn and now
                raise RuntimeError("the subscribe step is gone")
            version = consent_version(self.renderer.content.text(step.say))
            self.subscriptions.subscribe(sender, inbound.channel, reply.lang, reply.areas,
                                         consent_method(inbound), version)
            self.residents.remember(sender, inbound.user, ALERTS)  # to reach them with alerts
            logger.info("subscribed to alerts (%d areas)", len(reply.areas))
        elif reply.action == UNSUBSCRIBE:
            if self.subscriptions is not None and self.subscriptions.stop(sender):
                logger.info("alerts stopped")
            self.residents.release(sender, ALERTS)
        elif reply.action == FILE_REPORT:
            answers = dict(reply.answers)
            if self.reports is None or not reply.areas or "what" not in answers \
                    or "when" not in answers:
                raise RuntimeError("no reports service, or the report is incomplete")
            streets = self.held.open(answers.get(CROSS_STREETS)) if self.held is not None else None
            report = self.reports.file(
                area=reply.areas[-1], what=(answers["what"],), when=answers["when"],
                ongoing=ONGOING.get(answers.get("ongoing", "not_sure")), language=reply.lang,
                channel=inbound.channel, ticket_id=ticket.id if ticket is not None else None,
                cross_streets=streets)
            logger.info("report %d filed", report.id)

    def _guided_while_waiting(self, ticket: Ticket, inbound: InboundMessage,
                              replies: list[OutboundMessage]) -> list[OutboundMessage]:
        """The bot's answer while a ticket waits: asking for a person again says where they
        stand; coming back says so; "I didn't understand" (or a greeting) becomes a short
        receipt, at most every few minutes: the words went to staff, nothing to add."""
        if any(r.flow == HUMAN_FLOW and r.action == HANDOFF for r in replies):
            return status_messages(self.renderer, ticket.language, self.place(ticket, True))
        if any(r.step == "welcome_back" for r in replies):
            return replies[:1] + status_messages(self.renderer, ticket.language,
                                                 self.place(ticket, True))[:1] + replies[1:]
        nothing_to_add = any(r.text == self.renderer.text(r.lang, "ui.fallback") for r in replies) \
            or (bool(replies) and replies[0].step == "greeting")  # "hello?? anyone there"
        if inbound.payload is None and inbound.media is None and nothing_to_add:
            last = self.tickets.last_notice(ticket.id, RECEIPT)
            if last is not None and self.clock() - last < RECEIPT_EVERY:
                return []
            self.tickets.noticed(ticket.id, RECEIPT)
            lang = replies[-1].lang
            return [OutboundMessage(self.renderer.text(lang, "handoff.receipt"), replies[-1].buttons,
                                    lang, "system", "handoff_receipt")]
        return replies

    async def system_turn(self, resident: str, command: str, channel: str) -> list[OutboundMessage]:
        """A turn the application starts itself (a ticket ended): the dialogue's answer."""
        return await self.engine.command(resident, command, channel)

    async def has_conversation(self, inbound: InboundMessage) -> bool:
        return await self.engine.has_conversation(self.resident(inbound))

    # ---- handoff ----

    def answering_now(self) -> tuple[bool, tuple[str, ...]]:
        """Whether a person can answer now, and in which languages: staff on shift in the
        console; only where that is not known, the hotline's hours and languages in content."""
        present = self.presence()
        if present is None:
            content = self.renderer.content
            return hotline_open(content, self.clock()), hotline_languages(content)
        order = {code: n for n, code in enumerate(self.renderer.dialogue.languages)}
        return bool(present), tuple(sorted(present, key=lambda code: order.get(code, 99)))

    def place(self, ticket: Ticket, already_waiting: bool = False,
              answering: tuple[bool, tuple[str, ...]] | None = None) -> Place:
        """The ticket's place in line; `answering`: answering_now() as the caller just read it."""
        open_now, languages = answering if answering is not None else self.answering_now()
        return Place(self.tickets.position(ticket.id), self.tickets.expected_wait(), open_now,
                     already_waiting, languages)

    def _open_ticket(self, sender: str, inbound: InboundMessage, asked: OutboundMessage,
                     replies: list[OutboundMessage]) -> list[OutboundMessage]:
        answering = self.answering_now()  # one read of who is on shift, for the ticket and the line
        open_now = answering[0]
        self.residents.remember(sender, inbound.user, TICKET)  # staff replies must reach them
        ticket = self.tickets.open(sender, inbound.channel, asked.topic or "talk_to_person",
                                   asked.lang, asked.trail, after_hours=not open_now,
                                   urgent=asked.urgent, known_closed=True)
        logger.info("ticket %d opened (%s, %s)", ticket.id, ticket.topic, ticket.priority)
        if inbound.metadata.get(media_.MESSAGE_ID):
            self.tickets.remember_reply_ref(ticket.id, inbound.metadata[media_.MESSAGE_ID])
        if asked.urgent:  # short: the answer, the status, then the question's buttons
            stop = Button(self.renderer.label(asked.lang, "handoff.stop"), STOP_PAYLOAD)
            place = self.place(ticket, answering=answering)
            return arrange_urgent(replies, asked, urgent_status(self.renderer, asked.lang, place),
                                  stop)
        return replies + status_messages(self.renderer, asked.lang,
                                         self.place(ticket, answering=answering))

    async def _while_waiting(self, ticket: Ticket,
                             inbound: InboundMessage) -> list[OutboundMessage] | None:
        """While a ticket is open, what the resident writes goes to staff and the bot is
        quiet. Buttons of the rights scripts still answer; /menu and /stop end the wait.

        Returns the replies, or None to let the dialogue answer as usual. (Whatever the
        resident sends reopens WhatsApp's 24-hour window: last_inbound_at.)
        """
        if inbound.media in media_.KEPT:  # a photo or voice note: to staff
            return await self._media_while_waiting(ticket, inbound)
        if inbound.media is not None:  # staff cannot see it: the bot says it reads text only
            await off_loop(self.tickets.add_message, ticket.id, actors.BOT, SYSTEM,
                           f"The resident sent a {inbound.media[:20]}; it was not kept. "
                           "They were told that only text is read.", resident_acted=True)
            return None
        raw = clean_text(inbound.payload if inbound.payload is not None else inbound.text or "")
        command = parse_command(raw)
        if command is None and inbound.payload is not None:  # a rights-script button
            # The payload, not words: the console shows the button's words and the answer.
            await off_loop(self.tickets.add_message, ticket.id, actors.RESIDENT, BUTTON, raw[:80],
                           resident_acted=True)
            return None
        if command is None:
            return await self._typed_while_waiting(ticket, inbound, raw)
        await off_loop(self.tickets.seen, ticket.id)
        return await self._command_while_waiting(ticket, inbound, command[0])

    async def _remember_reply_ref(self, ticket: Ticket, inbound: InboundMessage) -> None:
        """The message id a typing indicator names (WhatsApp), kept sealed while it is open."""
        ref = inbound.metadata.get(media_.MESSAGE_ID)
        if ref:
            try:
                await off_loop(self.tickets.remember_reply_ref, ticket.id, ref)
            except Exception:  # a typing indicator is never worth a resident's answer
                logger.exception("the message id for a typing indicator could not be kept")

    async def _fetch_and_keep(self, inbound: InboundMessage) -> media_.Kept:
        """The photo (scrubbed of its metadata) or voice note, or a MediaError saying why not."""
        source = self.media_source(inbound.channel)
        ref = inbound.metadata.get(media_.REF)
        if source is None or not ref:
            raise media_.Unavailable(f"the {inbound.channel} channel cannot fetch media here")
        media_.check_size(media_.declared_size(inbound.metadata.get(media_.SIZE)))
        fetched = await source.fetch_media(ref)
        kind = inbound.media or ""
        return await asyncio.to_thread(media_.keep, kind, fetched)  # decoding is CPU work

    async def _media_while_waiting(self, ticket: Ticket,
                                   inbound: InboundMessage) -> list[OutboundMessage] | None:
        """A photo or voice note while a ticket is open: fetched by the channel, the photo
        re-encoded without metadata, sealed into the transcript for staff. The resident is
        told it arrived (at most every few minutes), or briefly why it could not be passed on."""
        kind = inbound.media or ""
        words = MEDIA_WORDS.get(kind, kind[:20])
        try:
            kept = await self._fetch_and_keep(inbound)
            caption = clean_text(inbound.metadata.get(media_.CAPTION, ""), media_.MAX_CAPTION,
                                 keep_lines=True)
            await off_loop(self.tickets.add_media, ticket.id, kept.kind, kept.mime, kept.data,
                           caption)
        except TicketError:  # closed while it was fetched: nothing kept, the dialogue answers
            return None
        except media_.MediaError as exc:
            logger.info("a %s was not kept (%s)", words, type(exc).__name__)
            return await self._media_failed(ticket, words, exc)
        except Exception as exc:  # a channel's bug: the resident still hears back
            logger.exception("a %s could not be fetched", words)
            return await self._media_failed(ticket, words, media_.Unavailable(
                f"fetching failed ({type(exc).__name__})"))
        return await off_loop(self._media_receipt, ticket)

    async def _media_failed(self, ticket: Ticket, words: str,
                            exc: media_.MediaError) -> list[OutboundMessage]:
        """Staff read why; the resident is told briefly, in their language."""
        lang = ticket.language
        key = "handoff.media_too_large" if isinstance(exc, media_.TooLarge) else "handoff.media_failed"
        await off_loop(self.tickets.add_message, ticket.id, actors.BOT, SYSTEM,
                       f"The resident sent a {words}; it could not be kept: {exc.reason}. "
                       "They were told.", resident_acted=True)
        return [OutboundMessage(self.renderer.text(lang, key), lang=lang, flow="system",
                                step="handoff_media_failed")]

    def _media_receipt(self, ticket: Ticket) -> list[OutboundMessage]:
        last = self.tickets.last_notice(ticket.id, MEDIA_RECEIPT)
        if last is not None and self.clock() - last < RECEIPT_EVERY:
            return []
        self.tickets.noticed(ticket.id, MEDIA_RECEIPT)
        return [OutboundMessage(self.renderer.text(ticket.language, "handoff.media_kept"),
                                lang=ticket.language, flow="system", step="handoff_media_kept")]

    async def _typed_while_waiting(self, ticket: Ticket, inbound: InboundMessage,
                                   raw: str) -> list[OutboundMessage] | None:
        """Typed text always goes to staff, except the answer to the report's "nearest cross
        streets?": only the report keeps that, sealed. Until a staff member has written, the
        bot keeps guiding: the dialogue answers it as outside a ticket (None). Once a person is
        talking, the bot is quiet (and says so once), except for danger and for a typed
        answer to the question it asked ("no", "2"). A typed number or word that names
        "Main menu" or "Talk to a person" is for staff ("how many officers?" "5"): only
        /menu (after asking), /stop or a tap end the wait."""
        whole = clean_text(inbound.text or "", MAX_TRANSCRIPT_LINE, keep_lines=True)
        if not whole:
            return []
        state = await self.engine.state(ticket.resident)
        dialogue = self.renderer.dialogue
        streets = dialogue.streets_answer(state, raw) if state else None
        if streets is not None and state is not None and not dialogue.danger_in(raw, state.lang):
            # The answer to "nearest cross streets?" (or a home address typed there): the
            # dialogue takes it, staff read only that it was given.
            await off_loop(self.tickets.add_message, ticket.id, actors.BOT, SYSTEM,
                           STREETS_LINES[streets], resident_acted=True)
            return None
        await off_loop(self.tickets.add_message, ticket.id, actors.RESIDENT, RESIDENT, whole)
        answer = dialogue.typed_payload(state, raw) if state else None
        if answer is not None and parse_command(answer) is not None:
            return []  # "5" or "menu" may answer staff's question: never ends the wait
        if not await off_loop(self.tickets.staff_wrote, ticket.id):
            return None
        # "Pilsen" at "where was it?" answers the report's question, as a button would.
        picked = state is not None and dialogue.picks_areas(state, raw) is not None
        if answer is not None or picked or dialogue.danger_in(raw, state.lang if state else "en"):
            return None
        return await off_loop(self._quiet_once, ticket)

    def _quiet_once(self, ticket: Ticket) -> list[OutboundMessage]:
        """A person is talking: the bot says once that it steps back, then stays silent."""
        if self.tickets.last_notice(ticket.id, QUIET) is not None:
            return []
        self.tickets.noticed(ticket.id, QUIET)
        return [OutboundMessage(self.renderer.text(ticket.language, "handoff.person_talking"),
                                lang=ticket.language, flow="system", step="handoff_quiet")]

    def _menu_confirm(self, lang: str) -> OutboundMessage:
        """"Main menu" while waiting: say what it costs, keep the place unless they confirm."""
        buttons = (Button(self.renderer.label(lang, "handoff.keep_waiting"), "/bot"),
                   Button(self.renderer.label(lang, "handoff.stop"), STOP_PAYLOAD))
        return OutboundMessage(self.renderer.text(lang, "handoff.menu_confirm"), buttons, lang,
                               "system", "handoff_menu_confirm")

    def _stop_waiting(self, ticket: Ticket) -> None:
        self.tickets.close(ticket.id, actors.RESIDENT, "resident stopped waiting")
        self.residents.release(ticket.resident, TICKET, still_open=False)

    async def _command_while_waiting(self, ticket: Ticket, inbound: InboundMessage,
                                     name: str) -> list[OutboundMessage] | None:
        if name == "menu":  # ask before giving up the place in line
            return [self._menu_confirm(ticket.language)]
        if name == "stop":
            await off_loop(self._stop_waiting, ticket)
            return await self.system_turn(ticket.resident, "handoff_stopped", inbound.channel)
        if name == "human":
            place = await off_loop(self.place, ticket, True)
            return status_messages(self.renderer, ticket.language, place)
        return None  # /lang, /help, /delete...: the dialogue answers
