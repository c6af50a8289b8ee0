"""The conversation service: an inbound message in, the replies and their effects out.

Every channel hands its messages here. One message is: the ticket check (while a ticket
is open, what the resident writes goes to staff), the Rasa turn, and what the turn asks
for (open or escalate a ticket, erase the resident's data).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from bot.core.dialogue import parse_command
from bot.core.handoff import Place, hotline_open, status_messages
from bot.core.messages import InboundMessage, OutboundMessage
from bot.core.render import Renderer
from bot.engine.codec import HANDOFF, clean_text
from bot.engine.engine import Engine
from bot.handoff.tickets import BUTTON, RESIDENT, SYSTEM, Ticket, TicketService
from bot.app.residents import TICKET, Residents
from bot.storage.db import utc_now
from bot.storage.offload import off_loop

logger = logging.getLogger(__name__)

MAX_TRANSCRIPT_LINE = 4096  # what staff read: a whole Telegram message (WhatsApp's is shorter)
DELETE_MY_DATA = "delete_my_data"  # the action of the item that erases the resident's data
ENDS_THE_WAIT = ("menu", "stop")


class ConversationService:
    def __init__(self, engine: Engine, tickets: TicketService, residents: Residents,
                 renderer: Renderer, reload: Callable[[], object] = lambda: None) -> None:
        self.engine = engine
        self.tickets = tickets
        self.residents = residents
        self.renderer = renderer
        self.clock: Callable[[], dt.datetime] = utc_now  # tests set the hotline's hour
        self.reload = reload  # recompiled catalogs that passed their checks go live

    def resident(self, inbound: InboundMessage) -> str:
        return self.residents.key(inbound.channel, inbound.user)

    async def handle(self, inbound: InboundMessage) -> list[OutboundMessage]:
        self.reload()
        sender = self.resident(inbound)
        ticket = await off_loop(self.tickets.open_for, sender)  # the one ticket read of the turn
        if ticket is not None:
            answered = await self._while_waiting(ticket, inbound)
            if answered is not None:
                return answered
        replies = await self.engine.turn(sender, inbound)
        return replies + await self._effects(sender, inbound, ticket, replies)

    async def _effects(self, sender: str, inbound: InboundMessage, ticket: Ticket | None,
                       replies: list[OutboundMessage]) -> list[OutboundMessage]:
        """What the turn asked for; returns the replies it adds (the place in line)."""
        if any(r.action == DELETE_MY_DATA for r in replies):
            await self.residents.erase(sender)
            return []
        asked = next((r for r in replies if r.action == HANDOFF), None)
        if asked is None:
            return []
        if ticket is None:
            try:
                return await off_loop(self._open_ticket, sender, inbound, asked)
            except Exception:  # the rights script still goes out; its text names the hotline
                logger.exception("a ticket could not be opened")
        elif asked.urgent:  # waiting already, then "yes, they are at my door now"
            await off_loop(self.tickets.escalate, ticket.id)
        return []

    async def system_turn(self, resident: str, command: str, channel: str) -> list[OutboundMessage]:
        """A turn the application starts itself (a ticket ended): the dialogue's answer."""
        return await self.engine.command(resident, command, channel)

    async def has_conversation(self, inbound: InboundMessage) -> bool:
        return await self.engine.has_conversation(self.resident(inbound))

    # ---- handoff ----

    def place(self, ticket: Ticket, already_waiting: bool = False) -> Place:
        return Place(self.tickets.position(ticket.id), self.tickets.expected_wait(),
                     hotline_open(self.renderer.content, self.clock()), already_waiting)

    def _open_ticket(self, sender: str, inbound: InboundMessage,
                     asked: OutboundMessage) -> list[OutboundMessage]:
        open_now = hotline_open(self.renderer.content, self.clock())
        self.residents.remember(sender, inbound.user, TICKET)  # staff replies must reach them
        ticket = self.tickets.open(sender, inbound.channel, asked.topic or "talk_to_person",
                                   asked.lang, asked.trail, after_hours=not open_now,
                                   urgent=asked.urgent, known_closed=True)
        logger.info("ticket %d opened (%s, %s)", ticket.id, ticket.topic, ticket.priority)
        return status_messages(self.renderer, asked.lang, self.place(ticket))

    async def _while_waiting(self, ticket: Ticket,
                             inbound: InboundMessage) -> list[OutboundMessage] | None:
        """While a ticket is open, what the resident writes goes to staff and the bot is
        quiet. Buttons of the rights scripts still answer; /menu and /stop end the wait.

        Returns the replies, or None to let the dialogue answer as usual. (Whatever the
        resident sends reopens WhatsApp's 24-hour window: last_inbound_at.)
        """
        if inbound.media is not None:  # staff cannot see it: the bot says it reads text only
            await off_loop(self.tickets.add_message, ticket.id, "bot", SYSTEM,
                           f"The resident sent a {inbound.media[:20]}; it was not kept. "
                           "They were told that only text is read.", resident_acted=True)
            return None
        raw = clean_text(inbound.payload if inbound.payload is not None else inbound.text or "")
        command = parse_command(raw)
        if command is None and inbound.payload is not None:  # a rights-script button
            # The payload, not words: the console shows the button's words and the answer.
            await off_loop(self.tickets.add_message, ticket.id, RESIDENT, BUTTON, raw[:80],
                           resident_acted=True)
            return None
        if command is None:
            return await self._typed_while_waiting(ticket, inbound, raw)
        await off_loop(self.tickets.seen, ticket.id)
        return await self._command_while_waiting(ticket, inbound, command[0])

    async def _typed_while_waiting(self, ticket: Ticket, inbound: InboundMessage,
                                   raw: str) -> list[OutboundMessage] | None:
        """Typed text goes to staff. An answer to the question the bot just asked ("no",
        "2") is still the bot's to answer (agents at the door: "is it signed by a judge?").
        A typed number or word that names "Main menu" or "Talk to a person" is for staff
        too ("how many officers?" "5"): only /menu, /stop or a tap end the wait."""
        whole = clean_text(inbound.text or "", MAX_TRANSCRIPT_LINE, keep_lines=True)
        if not whole:
            return []
        await off_loop(self.tickets.add_message, ticket.id, RESIDENT, RESIDENT, whole)
        state = await self.engine.state(ticket.resident)
        answer = self.renderer.dialogue.typed_payload(state, raw) if state else None
        return [] if answer is None or parse_command(answer) is not None else None

    def _stop_waiting(self, ticket: Ticket) -> None:
        self.tickets.close(ticket.id, RESIDENT, "resident stopped waiting")
        self.residents.release(ticket.resident, TICKET, still_open=False)

    async def _command_while_waiting(self, ticket: Ticket, inbound: InboundMessage,
                                     name: str) -> list[OutboundMessage] | None:
        if name in ENDS_THE_WAIT:
            await off_loop(self._stop_waiting, ticket)
            return await self.system_turn(ticket.resident, "handoff_stopped", inbound.channel)
        if name == "human":
            place = await off_loop(self.place, ticket, True)
            return status_messages(self.renderer, ticket.language, place)
        return None  # /lang, /help, /delete...: the dialogue answers
