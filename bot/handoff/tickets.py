"""The ticket service: the one writer of ticket state, recording who changed it and how.

A ticket is one period of human contact: open -> claimed -> closed (or open -> closed when
the resident stops waiting). A claim is one conditional UPDATE, so when two staff claim at
once exactly one row changes and the other is told. Every change appends an event, and the
newest event id is the version the staff console watches for live updates.

The transcript (what the resident wrote while the ticket was open, staff replies and
notes) is sealed with the resident's data key (bot.storage.keys), and its text is deleted
`transcript_hours` after the ticket closes (`purge_transcripts`). Photos and voice notes
the resident sent while it was open are sealed with the same key and deleted with the
text; erasure and the purge destroy the key, so copies of either left in the files are
noise. The resident's last platform message id (for a typing indicator) is sealed with
that key too, and kept only until the ticket closes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

from cryptography.fernet import Fernet, InvalidToken

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.core import actors
from bot.storage.addresses import sealer
from bot.storage.keys import DataKeys
from bot.storage.prepared import Prepared
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.events import EventLog
from bot.storage.schema import ticket_events, ticket_media, ticket_messages, ticket_reads, tickets

OPEN, CLAIMED, CLOSED = "open", "claimed", "closed"
URGENT, NORMAL = "urgent", "normal"

logger = logging.getLogger(__name__)

# Who wrote: an actor (bot.core.actors); kind: resident, reply, note, system, or
# button: a rights-script button the resident tapped, kept as its payload (a content
# reference, not their words), so the console shows the button's words and the bot's answer;
# media: a photo or voice note (kyr_ticket_media), the line's text its caption.
RESIDENT, REPLY, NOTE, SYSTEM, BUTTON, MEDIA = "resident", "reply", "note", "system", "button", "media"
FROM_RESIDENT = (RESIDENT, BUTTON, MEDIA)
MAX_ID = 2**31 - 1  # the id columns are 32-bit: a larger number names no ticket
SENDING, SENT, FAILED = "sending", "sent", "failed"
# Which key opens a photo or voice note (kyr_ticket_media.sealed_with): the resident's data
# key, or (rows from before migration 0010) the media key derived from KYR_SECRET_KEY.
RESIDENT_KEY, LEGACY_KEY = "resident", "legacy"
# kyr_tickets.reply_ref sealed with the resident's data key starts so (see reply_ref()).
REF_MARK = "k1:"



class TicketEvent(str, Enum):
    """What changed, as a ticket's event row records it and the observer is told. A str, so
    the words stored in kyr_ticket_events stay what they were and compare equal to them.
    The log also holds each transcript line's kind (REPLY, NOTE...) and the bot's notices."""

    OPENED = "opened"
    CLAIMED = "claimed"
    TRANSFERRED = "transferred"
    UNCLAIMED = "unclaimed"
    ESCALATED = "escalated"
    CLOSED = "closed"
    DELIVERY = "delivery"  # a staff reply was marked sent or failed: the console's cue only


STATE_EVENTS = (TicketEvent.OPENED, TicketEvent.CLAIMED, TicketEvent.TRANSFERRED,
                TicketEvent.UNCLAIMED, TicketEvent.ESCALATED, TicketEvent.CLOSED)
FORGOTTEN = "forgotten"  # the resident key of a ticket past its retention


class TicketError(Exception):
    """A change the ticket's state does not allow; the message says why, for staff."""


class AlreadyClaimed(TicketError):
    pass


@dataclass(frozen=True)
class Ticket:
    id: int
    resident: str
    channel: str
    topic: str
    language: str
    priority: str
    status: str
    assignee: Optional[str]
    opened_at: dt.datetime
    claimed_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    disposition: Optional[str]
    after_hours: bool
    path: tuple[str, ...]
    last_inbound_at: Optional[dt.datetime]


@dataclass(frozen=True)
class InboxState:
    """One ticket as one staff member sees it: resident lines not yet read by them, and
    whether the resident spoke last (a reply is owed)."""

    unread: int
    needs_reply: bool


@dataclass(frozen=True)
class Message:
    id: int
    ticket_id: int
    author: str
    kind: str
    text: Optional[str]  # None once purged
    delivery: Optional[str]
    reason: Optional[str]
    at: dt.datetime


@dataclass(frozen=True)
class Attachment:
    """A photo or voice note of a transcript line (its bytes stay sealed until asked for)."""

    id: int
    ticket_id: int
    message_id: int
    kind: str  # photo, voice, audio
    mime: str


def _ticket(row: sa.engine.RowMapping) -> Ticket:
    data = dict(row)
    data.pop("reply_ref", None)  # sealed, read only by reply_ref()
    for key in ("opened_at", "claimed_at", "closed_at", "last_inbound_at"):
        data[key] = as_utc(data[key])
    data["after_hours"] = bool(data["after_hours"])
    data["path"] = tuple(json.loads(data["path"] or "[]"))
    return Ticket(**data)


# Told of each state change inside its transaction, with the ticket as it now is: the
# application layer counts them (bot.app.counters) without this module knowing of it.
Observer = Callable[[Connection, TicketEvent, "Ticket"], None]


# Built once: a statement made anew per call spends more time in SQLAlchemy's construction
# and cache key than in the database (a third of a button press in a profile). These run on
# every message (open_for) or every ticket page (get).
_OPEN_FOR = Prepared(sa.select(tickets).where(tickets.c.resident == sa.bindparam("resident"),
                                              tickets.c.status != CLOSED).limit(1))
_BY_ID = Prepared(sa.select(tickets).where(tickets.c.id == sa.bindparam("id")))
# The statements of the resident's side, which runs on every message or every ticket,
# built once: SQLAlchemy's construction and cache keys cost more than SQLite's work here.
_RANK = sa.case((tickets.c.priority == URGENT, 0), else_=1)
_MY_RANK = Prepared(sa.select(_RANK.label("rank"), tickets.c.opened_at, tickets.c.status).where(
    tickets.c.id == sa.bindparam("id")))
_AHEAD = Prepared(sa.select(sa.func.count()).select_from(tickets).where(
    tickets.c.status == OPEN, sa.or_(
        _RANK < sa.bindparam("rank"), sa.and_(_RANK == sa.bindparam("rank"), sa.or_(
            tickets.c.opened_at < sa.bindparam("opened_at"), sa.and_(
                tickets.c.opened_at == sa.bindparam("opened_at"),
                tickets.c.id <= sa.bindparam("id")))))))
_RECENT_WAITS = Prepared(sa.select(tickets.c.opened_at, tickets.c.claimed_at).where(
    tickets.c.claimed_at.is_not(None), tickets.c.after_hours.is_(False)).order_by(
    tickets.c.claimed_at.desc()).limit(sa.bindparam("recent")))
_SEEN = Prepared(sa.update(tickets).where(tickets.c.id == sa.bindparam("ticket_id")).values(
    last_inbound_at=sa.bindparam("at")))
_INSERT = sa.insert(tickets)
_INSERT_LINE = sa.insert(ticket_messages)  # a transcript line, on every message while waiting
_RESIDENT_OF = sa.select(tickets.c.resident).where(tickets.c.id == sa.bindparam("ticket_id"))
_ESCALATE = sa.update(tickets).where(
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.status != CLOSED,
    tickets.c.priority != URGENT).values(priority=URGENT)
_OPEN_RESIDENT_OF = sa.select(tickets.c.resident).where(
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.status != CLOSED)
_REPLY_REF = sa.update(tickets).where(
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.status != CLOSED).values(
    reply_ref=sa.bindparam("sealed"))
_CLOSE_VALUES = {"status": CLOSED, "closed_at": sa.bindparam("at"),
                 "disposition": sa.bindparam("why"), "reply_ref": None}
_CLOSE_OPEN = Prepared(sa.update(tickets).where(  # the resident stops waiting, a supervisor closes
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.status != CLOSED).values(_CLOSE_VALUES))
_CLOSE_CLAIMED = Prepared(sa.update(tickets).where(  # staff close the ticket they hold
    tickets.c.id == sa.bindparam("ticket_id"), tickets.c.status == CLAIMED,
    tickets.c.assignee == sa.bindparam("who")).values(_CLOSE_VALUES))


class TicketService:
    def __init__(self, engine: Engine, secret: bytes, observer: Optional[Observer] = None) -> None:
        self.engine = engine
        self.observer = observer
        self.fernet: Fernet = sealer(secret, b"kyr-transcripts-v1")  # old lines and reply_refs
        self.media_fernet: Fernet = sealer(secret, b"kyr-ticket-media-v1")  # media from before 0010
        self.keys = DataKeys(secret)  # each resident's lines and media: their own key
        self.log = EventLog(engine, ticket_events, "ticket_id")  # who changed what, when

    # ---- reading ----

    def get(self, ticket_id: int, connection: Optional[Connection] = None) -> Ticket:
        if not 0 < ticket_id <= MAX_ID:  # 10**30 in a URL: not a ticket, not a driver overflow
            raise TicketError(f"ticket {ticket_id} does not exist")
        if connection is None:
            with self.engine.connect() as own:
                row = _BY_ID.execute(own, {"id": ticket_id}).first()
        else:
            row = _BY_ID.execute(connection, {"id": ticket_id}).first()
        if row is None:
            raise TicketError(f"ticket {ticket_id} does not exist")
        return _ticket(row)

    def tickets(self, ids: list[int]) -> list[Ticket]:
        """These tickets, in this order, in one query."""
        if not ids:
            return []
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(tickets).where(tickets.c.id.in_(ids))).mappings().all()
        found = {row["id"]: _ticket(row) for row in rows}
        return [found[i] for i in ids if i in found]

    def open_for(self, resident: str, connection: Optional[Connection] = None) -> Optional[Ticket]:
        """The resident's ticket that is not closed: one indexed query, on every message."""
        if connection is None:
            with self.engine.connect() as own:
                row = _OPEN_FOR.execute(own, {"resident": resident}).first()
        else:
            row = _OPEN_FOR.execute(connection, {"resident": resident}).first()
        return _ticket(row) if row is not None else None

    def _queue_ids(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(tickets.c.id).where(tickets.c.status == OPEN).order_by(
                sa.case((tickets.c.priority == URGENT, 0), else_=1), tickets.c.opened_at,
                tickets.c.id)).scalars())

    def queue(self) -> list[Ticket]:
        """Waiting tickets, urgent first, then oldest."""
        return self.tickets(self._queue_ids())

    def position(self, ticket_id: int) -> int:
        """1 for the next ticket to be taken; 0 when it is not waiting. Counted in the
        database (the queue's order, up to this ticket), not read out whole: on a raid night
        the queue is long, and every ticket opened asks."""
        with self.engine.connect() as connection:
            me = _MY_RANK.execute(connection, {"id": ticket_id}).first()
            if me is None or me["status"] != OPEN:
                return 0
            return int(_AHEAD.execute(connection, {
                "rank": me["rank"], "opened_at": me["opened_at"], "id": ticket_id}).scalar() or 0)

    def expected_wait(self, recent: int = 20) -> Optional[dt.timedelta]:
        """Median wait of the last tickets claimed that were opened in hours; None before any."""
        with self.engine.connect() as connection:
            # Tickets left overnight waited for the hotline to open, not for a free person.
            rows = _RECENT_WAITS.execute(connection, {"recent": recent}).rows
        waits = [(as_utc(claimed) - as_utc(opened)).total_seconds()
                 for opened, claimed in rows if opened is not None and claimed is not None]
        return dt.timedelta(seconds=statistics.median(waits)) if waits else None

    def events(self, ticket_id: int, *kinds: str) -> list[tuple[str, str]]:
        """(kind, actor) of the state changes, or of the given kinds, oldest first."""
        return [(k, a) for k, a, _ in self.log.history(ticket_id, kinds or STATE_EVENTS)]

    def staff_wrote(self, ticket_id: int) -> bool:
        """Whether a staff member has written to the resident: from then on a person is
        talking, and the bot steps back for free text."""
        query = sa.select(ticket_messages.c.id).where(
            ticket_messages.c.ticket_id == ticket_id, ticket_messages.c.kind == REPLY).limit(1)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def last_notice(self, ticket_id: int, kind: str) -> Optional[dt.datetime]:
        """When the bot last told the resident something of this kind (a receipt), if ever."""
        query = sa.select(sa.func.max(ticket_events.c.at)).where(
            ticket_events.c.ticket_id == ticket_id, ticket_events.c.kind == kind)
        with self.engine.connect() as connection:
            at = connection.execute(query).scalar()
        return as_utc(at) if at is not None else None

    def noticed(self, ticket_id: int, kind: str) -> None:
        """Record that the bot told the resident something of this kind (no text kept)."""
        with transaction(self.engine) as connection:
            self._event(connection, ticket_id, kind, actors.BOT)

    def last_event(self, ticket_id: int, *kinds: str) -> Optional[tuple[str, str]]:
        """(kind, actor) of the newest state change (or of the given kinds), or None."""
        found = self.events(ticket_id, *kinds)
        return found[-1] if found else None

    def handed_to(self, staff: str) -> dict[int, str]:
        """Tickets this person holds because a colleague passed them on: id -> who did."""
        newest = sa.select(ticket_events.c.ticket_id, sa.func.max(ticket_events.c.id).label("id")).where(
            ticket_events.c.kind.in_((TicketEvent.CLAIMED, TicketEvent.TRANSFERRED))).group_by(
            ticket_events.c.ticket_id).subquery()
        query = sa.select(tickets.c.id, ticket_events.c.actor).select_from(
            tickets.join(newest, newest.c.ticket_id == tickets.c.id).join(
                ticket_events, ticket_events.c.id == newest.c.id)).where(
            tickets.c.status == CLAIMED, tickets.c.assignee == staff,
            ticket_events.c.kind == TicketEvent.TRANSFERRED)
        with self.engine.connect() as connection:
            return {int(i): actors.staff_name(str(a)) for i, a in connection.execute(query)}

    def inbox(self, staff: str, ids: list[int]) -> dict[int, InboxState]:
        """Unread resident lines and owed replies for these tickets, as `staff` sees them."""
        if not ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(
                ticket_messages.c.ticket_id, ticket_messages.c.id, ticket_messages.c.kind).where(
                ticket_messages.c.ticket_id.in_(ids),
                ticket_messages.c.kind.in_(FROM_RESIDENT + (REPLY,))).order_by(ticket_messages.c.id)).all()
            read = dict(connection.execute(sa.select(ticket_reads.c.ticket_id, ticket_reads.c.message_id).where(
                ticket_reads.c.staff == staff, ticket_reads.c.ticket_id.in_(ids))).all())
        unread: dict[int, int] = {i: 0 for i in ids}
        last: dict[int, str] = {}
        for ticket_id, message_id, kind in rows:
            last[ticket_id] = kind
            if kind in FROM_RESIDENT and message_id > read.get(ticket_id, 0):
                unread[ticket_id] += 1
        return {i: InboxState(unread[i], last.get(i) in FROM_RESIDENT) for i in ids}

    def mark_read(self, staff: str, ticket_id: int) -> None:
        """`staff` has seen the transcript up to its newest line."""
        with transaction(self.engine) as connection:
            newest = connection.execute(sa.select(sa.func.max(ticket_messages.c.id)).where(
                ticket_messages.c.ticket_id == ticket_id)).scalar()
            if newest is None:
                return
            changed = connection.execute(sa.update(ticket_reads).where(
                ticket_reads.c.staff == staff, ticket_reads.c.ticket_id == ticket_id).values(
                message_id=newest)).rowcount
            if not changed:
                try:
                    with connection.begin_nested():
                        connection.execute(sa.insert(ticket_reads).values(
                            staff=staff, ticket_id=ticket_id, message_id=newest))
                except sa.exc.IntegrityError:  # the ticket was erased meanwhile, or a race
                    pass

    def version(self) -> int:
        """Grows with every change to any ticket or transcript: the console's live cue."""
        return self.log.version()

    def messages(self, ticket_id: int) -> list[Message]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(ticket_messages).where(
                ticket_messages.c.ticket_id == ticket_id).order_by(ticket_messages.c.id)).mappings().all()
            key = self._key_of(connection, ticket_id)
        return [Message(r["id"], r["ticket_id"], r["author"], r["kind"], self._open(r["sealed"], key),
                        r["delivery"], r["reason"], as_utc(r["at"])) for r in rows]

    def _open(self, sealed: Optional[str], key: Optional[Fernet]) -> Optional[str]:
        if sealed is None:
            return None
        for fernet in (key, self.fernet):  # the resident's key; the master's for old lines
            if fernet is None:
                continue
            try:
                return fernet.decrypt(sealed.encode()).decode()
            except InvalidToken:
                continue
        return None  # its key was destroyed, or KYR_SECRET_KEY changed: unreadable, say so

    def _key_of(self, connection: Connection, ticket_id: int, create: bool = False) -> Optional[Fernet]:
        """The data key of the ticket's resident (made now when `create` and there is none);
        None for a ticket whose resident is forgotten, or whose key is gone."""
        resident = connection.execute(_RESIDENT_OF, {"ticket_id": ticket_id}).scalar()
        if resident in (None, FORGOTTEN):
            return None
        return self.keys.key(connection, resident, create=create)

    def _seal(self, connection: Connection, ticket_id: int, text: str) -> Optional[str]:
        """A line sealed with its resident's key (made at their first line); None (no text
        kept) for a ticket whose resident is already forgotten."""
        key = self._key_of(connection, ticket_id, create=True)
        return key.encrypt(text.encode()).decode() if key is not None else None

    def attachments(self, ticket_id: int) -> dict[int, Attachment]:
        """The ticket's photos and voice notes by transcript line (no bytes)."""
        query = sa.select(ticket_media.c.id, ticket_media.c.ticket_id, ticket_media.c.message_id,
                          ticket_media.c.kind, ticket_media.c.mime).where(
            ticket_media.c.ticket_id == ticket_id).order_by(ticket_media.c.id)
        with self.engine.connect() as connection:
            return {int(r.message_id): Attachment(int(r.id), int(r.ticket_id), int(r.message_id),
                                                  r.kind, r.mime) for r in connection.execute(query)}

    def attachment(self, media_id: int) -> Optional[tuple[Attachment, bytes]]:
        """One photo or voice note and its bytes, opened; None when gone or unreadable (its
        resident's key destroyed, or KYR_SECRET_KEY changed)."""
        if not 0 < media_id <= MAX_ID:
            return None
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(ticket_media).where(
                ticket_media.c.id == media_id)).mappings().first()
            if row is None:
                return None
            # Only a row marked legacy is opened with the key derived from KYR_SECRET_KEY:
            # for the others that key must open nothing.
            key = self.media_fernet if row["sealed_with"] == LEGACY_KEY \
                else self._key_of(connection, row["ticket_id"])
        if key is None:
            return None
        try:
            data = key.decrypt(bytes(row["sealed"]))
        except InvalidToken:
            return None
        return Attachment(row["id"], row["ticket_id"], row["message_id"], row["kind"],
                          row["mime"]), data

    def reply_ref(self, ticket_id: int) -> Optional[str]:
        """The resident's last platform message id while the ticket is open, else None (also
        when its key is gone or cannot be opened: the typing indicator is only a courtesy).

        A value is stored as REF_MARK + a token of the resident's data key; one written
        before reply_refs had that key has no mark and is a token of the transcripts' old key,
        derived from KYR_SECRET_KEY. The mark, not a column or a migration: such a value
        lives only while its ticket is open, and no Fernet token starts with "k1:" (they start
        "gAAAAA"), so the two cannot be mistaken. Only an unmarked value is opened with the
        old key, so that key opens nothing written now."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(tickets.c.reply_ref, tickets.c.resident).where(
                tickets.c.id == ticket_id, tickets.c.status != CLOSED)).first()
            if row is None or row.reply_ref is None:
                return None
            if not row.reply_ref.startswith(REF_MARK):  # from before the data keys
                key: Optional[Fernet] = self.fernet
                sealed = row.reply_ref
            else:
                key = self.keys.key(connection, row.resident)
                sealed = row.reply_ref[len(REF_MARK):]
        if key is None:
            return None
        try:
            return key.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None

    # ---- the one writer ----

    def _line(self, connection: Connection, ticket_id: int, author: str, kind: str, text: str) -> None:
        connection.execute(sa.insert(ticket_messages).values(
            ticket_id=ticket_id, author=author, kind=kind, at=utc_now(),
            sealed=self._seal(connection, ticket_id, text)))

    def _event(self, connection: Connection, ticket_id: int, kind: str, actor: str) -> None:
        self.log.write(connection, ticket_id, kind, actor, utc_now())

    def _observe(self, connection: Connection, ticket_id: int, event: TicketEvent) -> Ticket:
        """The ticket as this change left it, read in its transaction (and returned: the
        caller needs no second read after the commit), told to the observer."""
        ticket = self.get(ticket_id, connection)
        if self.observer is not None:
            self.observer(connection, event, ticket)
        return ticket

    def open(self, resident: str, channel: str, topic: str, language: str,
             path: tuple[str, ...] = (), after_hours: bool = False, urgent: bool = False,
             known_closed: bool = False) -> Ticket:
        """Open a ticket, or return the resident's ticket that is still open.

        `urgent` comes from the flows (`urgent: true` on a flow or step): agents at the door
        now is urgent, reading about it to prepare is not, though both are ice_at_door.
        `known_closed`: the caller has just seen no open ticket (the one-open index still
        decides a race)."""
        existing = None if known_closed else self.open_for(resident)
        if existing is not None:
            return existing
        priority = URGENT if urgent else NORMAL
        now = utc_now()
        try:
            with transaction(self.engine) as connection:
                ticket_id = connection.execute(_INSERT, dict(
                    resident=resident, channel=channel, topic=topic, language=language,
                    priority=priority, status=OPEN, opened_at=now, after_hours=after_hours,
                    path=json.dumps(list(path)), last_inbound_at=now)).inserted_primary_key[0]
                self._event(connection, ticket_id, TicketEvent.OPENED, actors.RESIDENT)
                opened = self._observe(connection, ticket_id, TicketEvent.OPENED)
        except sa.exc.IntegrityError:  # opened a moment ago by another message: that one
            existing = self.open_for(resident)
            if existing is None:
                raise
            return existing
        return opened

    def add_message(self, ticket_id: int, author: str, kind: str, text: str,
                    resident_acted: bool = False,
                    also: Optional[Callable[[Connection, int], None]] = None) -> int:
        """Keep one line of the transcript (sealed). A resident's line, or a line about
        something the resident did (`resident_acted`: a tap, a photo), moves their last-seen
        time, which WhatsApp's 24-hour reply window is counted from. `also(connection,
        line id)` runs in the same transaction (a staff reply's outbox row)."""
        now = utc_now()
        with transaction(self.engine) as connection:
            message_id = connection.execute(_INSERT_LINE, dict(
                ticket_id=ticket_id, author=author, kind=kind, at=now,
                sealed=self._seal(connection, ticket_id, text),
                delivery=SENDING if kind == REPLY else None)).inserted_primary_key[0]
            if kind in FROM_RESIDENT or resident_acted:
                _SEEN.execute(connection, {"ticket_id": ticket_id, "at": now})
            self._event(connection, ticket_id, kind, author)
            if also is not None:
                also(connection, int(message_id))
        return int(message_id)

    def add_media(self, ticket_id: int, kind: str, mime: str, data: bytes,
                  caption: str = "") -> int:
        """Keep a photo or voice note the resident sent (already scrubbed: bot.core.media)
        as a transcript line with its sealed bytes; only while the ticket is open (a ticket
        closed while it was fetched keeps nothing). Returns the line's id."""
        now = utc_now()
        with transaction(self.engine) as connection:
            moved = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, tickets.c.status != CLOSED).values(
                last_inbound_at=now)).rowcount
            if moved != 1:
                raise TicketError(f"ticket {ticket_id} is closed: nothing is kept")
            key = self._key_of(connection, ticket_id, create=True)
            if key is None:  # their key cannot be opened (KYR_SECRET_KEY changed): keep nothing
                raise TicketError(f"ticket {ticket_id} has no key to seal with: nothing is kept")
            message_id = connection.execute(sa.insert(ticket_messages).values(
                ticket_id=ticket_id, author=actors.RESIDENT, kind=MEDIA, at=now,
                sealed=key.encrypt(caption.encode()).decode())).inserted_primary_key[0]
            connection.execute(sa.insert(ticket_media).values(
                ticket_id=ticket_id, message_id=message_id, kind=kind[:10], mime=mime[:40],
                sealed=key.encrypt(data), sealed_with=RESIDENT_KEY, created_at=now))
            self._event(connection, ticket_id, MEDIA, actors.RESIDENT)
        return int(message_id)

    def remember_reply_ref(self, ticket_id: int, ref: str) -> None:
        """The resident's newest platform message id, sealed with their data key (a WhatsApp
        id encodes their phone number: erasure must make old copies noise), while the ticket
        is open. When their key cannot be opened (KYR_SECRET_KEY changed) none is kept, not
        even the older one: as with no id at all, WhatsApp shows no typing indicator then."""
        with transaction(self.engine) as connection:
            resident = connection.execute(_OPEN_RESIDENT_OF, {"ticket_id": ticket_id}).scalar()
            if resident is None:  # closed (or gone): a closed ticket keeps none
                return
            key = self.keys.key(connection, resident, create=True)
            sealed = REF_MARK + key.encrypt(ref.encode()).decode() if key is not None else None
            connection.execute(_REPLY_REF, {"ticket_id": ticket_id, "sealed": sealed})

    def escalate(self, ticket_id: int) -> bool:
        """A waiting resident reached a step where someone is in danger now: urgent from here
        on (the console alerts). True if it changed."""
        with transaction(self.engine) as connection:
            changed = connection.execute(_ESCALATE, {"ticket_id": ticket_id}).rowcount
            if changed:
                self._event(connection, ticket_id, TicketEvent.ESCALATED, actors.RESIDENT)
                self._observe(connection, ticket_id, TicketEvent.ESCALATED)
        return bool(changed)

    def seen(self, ticket_id: int) -> None:
        """The resident wrote (anything: text, a tap, a photo): WhatsApp's window restarts."""
        with transaction(self.engine) as connection:
            _SEEN.execute(connection, {"ticket_id": ticket_id, "at": utc_now()})

    def delivered(self, message_id: int, ok: bool, reason: Optional[str] = None) -> None:
        with transaction(self.engine) as connection:
            self.delivered_in(connection, message_id, ok, reason)

    def delivered_in(self, connection: Connection, message_id: int, ok: bool,
                     reason: Optional[str] = None) -> None:
        """The mark in the caller's transaction: the one that marks the outbox row."""
        ticket_id = connection.execute(sa.select(ticket_messages.c.ticket_id).where(
            ticket_messages.c.id == message_id)).scalar()
        connection.execute(sa.update(ticket_messages).where(
            ticket_messages.c.id == message_id).values(
            delivery=SENT if ok else FAILED, reason=None if ok else (reason or "not delivered")[:200]))
        if ticket_id is not None:
            self._event(connection, ticket_id, TicketEvent.DELIVERY, actors.BOT)

    def purge_transcripts(self, older_than: dt.timedelta) -> int:
        """Delete the text of transcripts whose ticket closed longer ago than `older_than`, and
        the ticket's link to the resident and the path that led to it."""
        cutoff = utc_now() - older_than
        closed_long_ago = sa.select(tickets.c.id).where(
            tickets.c.status == CLOSED, tickets.c.closed_at < cutoff).scalar_subquery()
        with transaction(self.engine) as connection:
            # Photos and voice notes go whole: nothing of them is worth keeping.
            connection.execute(sa.delete(ticket_media).where(
                ticket_media.c.ticket_id.in_(closed_long_ago)))
            purged = int(connection.execute(sa.update(ticket_messages).where(
                ticket_messages.c.ticket_id.in_(closed_long_ago),
                ticket_messages.c.sealed.is_not(None)).values(sealed=None)).rowcount)
            # What stays (times, topic, disposition: the wait estimates, the hotline's own
            # statistics) no longer says whose it was or what they read on the way.
            forgotten = set(connection.execute(sa.select(tickets.c.resident).where(
                tickets.c.status == CLOSED, tickets.c.closed_at < cutoff,
                tickets.c.resident != FORGOTTEN)).scalars())
            connection.execute(sa.update(tickets).where(
                tickets.c.status == CLOSED, tickets.c.closed_at < cutoff,
                tickets.c.resident != FORGOTTEN).values(resident=FORGOTTEN, path="[]",
                                                        reply_ref=None))
            # Their keys go too, unless a newer ticket of theirs still keeps its text.
            kept = set(connection.execute(sa.select(tickets.c.resident).where(
                tickets.c.resident.in_(forgotten))).scalars()) if forgotten else set()
            self.keys.destroy(connection, sorted(forgotten - kept))
            return purged

    def erase_resident(self, resident: str) -> int:
        """/delete: the resident's tickets, transcripts and events go; returns tickets erased."""
        with transaction(self.engine) as connection:
            ids = connection.execute(sa.select(tickets.c.id).where(
                tickets.c.resident == resident)).scalars().all()
            if ids:
                connection.execute(sa.delete(ticket_reads).where(ticket_reads.c.ticket_id.in_(ids)))
                connection.execute(sa.delete(ticket_media).where(ticket_media.c.ticket_id.in_(ids)))
                connection.execute(sa.delete(ticket_messages).where(ticket_messages.c.ticket_id.in_(ids)))
                connection.execute(sa.delete(ticket_events).where(ticket_events.c.ticket_id.in_(ids)))
                connection.execute(sa.delete(tickets).where(tickets.c.id.in_(ids)))
            self.keys.destroy(connection, [resident])  # any copy of their lines is noise now
        return len(ids)

    def claim(self, ticket_id: int, staff: str) -> Ticket:
        with transaction(self.engine) as connection:
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, tickets.c.status == OPEN).values(
                status=CLAIMED, assignee=staff, claimed_at=utc_now())).rowcount
            if changed != 1:
                current = self.get(ticket_id, connection)
                if current.status == CLAIMED:
                    raise AlreadyClaimed(f"ticket {ticket_id} was claimed by {current.assignee}")
                raise TicketError(f"ticket {ticket_id} is {current.status}: it cannot be claimed")
            self._event(connection, ticket_id, TicketEvent.CLAIMED, actors.staff(staff))
            return self._observe(connection, ticket_id, TicketEvent.CLAIMED)

    def transfer(self, ticket_id: int, staff: str, to_staff: str, supervisor: bool = False,
                 note: str = "") -> Ticket:
        """Staff pass on their claimed ticket; a supervisor may pass on anyone's, or give a
        waiting ticket to someone (when the assignee went off shift, say). The transcript
        says who passed it to whom, with the sender's note, for the receiver to read first."""
        with transaction(self.engine) as connection:
            condition = sa.and_(tickets.c.status == CLAIMED, tickets.c.assignee == staff)
            if supervisor:
                condition = tickets.c.status != CLOSED
            was_waiting = self.get(ticket_id, connection).status == OPEN
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, condition).values(
                assignee=to_staff, status=CLAIMED,
                claimed_at=sa.func.coalesce(tickets.c.claimed_at, utc_now()))).rowcount
            if changed != 1:
                raise TicketError(f"ticket {ticket_id} is not claimed by {staff}")
            note = note.strip()[:1000]
            self._line(connection, ticket_id, actors.staff(staff), NOTE,
                       f"Passed to {to_staff}." + (f" {note}" if note else ""))
            self._event(connection, ticket_id, TicketEvent.TRANSFERRED, actors.staff(staff))
            if was_waiting:  # given to someone while it waited: this is when a person took it
                self._observe(connection, ticket_id, TicketEvent.CLAIMED)
        return self.get(ticket_id)

    def unclaim(self, ticket_id: int, staff: str, supervisor: bool = False) -> Ticket:
        """Back to the waiting queue, for anyone to take (the assignee, or a supervisor)."""
        with transaction(self.engine) as connection:
            condition = sa.and_(tickets.c.status == CLAIMED, tickets.c.assignee == staff)
            if supervisor:
                condition = tickets.c.status == CLAIMED
            changed = connection.execute(sa.update(tickets).where(
                tickets.c.id == ticket_id, condition).values(
                assignee=None, status=OPEN, claimed_at=None)).rowcount
            if changed != 1:
                raise TicketError(f"ticket {ticket_id} is not claimed by {staff}")
            self._event(connection, ticket_id, TicketEvent.UNCLAIMED, actors.staff(staff))
        return self.get(ticket_id)

    def held_by(self, staff: str) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(tickets.c.id).where(
                tickets.c.status == CLAIMED, tickets.c.assignee == staff).order_by(tickets.c.id)).scalars())

    def hand_over(self, staff: str, to_staff: Optional[str], note: str = "") -> list[int]:
        """End of a shift: every ticket `staff` holds goes to a colleague, or back to the queue."""
        moved = []
        for ticket_id in self.held_by(staff):
            try:
                if to_staff:
                    self.transfer(ticket_id, staff, to_staff, note=note)
                else:
                    self.unclaim(ticket_id, staff)
                moved.append(ticket_id)
            except TicketError:  # closed or passed on meanwhile: nothing left to hand over
                continue
        return moved

    def close(self, ticket_id: int, actor: str, disposition: str, supervisor: bool = False) -> Ticket:
        """Staff close their claimed ticket, a supervisor any open one; the resident (actor
        actors.RESIDENT, a name no staff account may have) can stop waiting."""
        with transaction(self.engine) as connection:
            values = {"ticket_id": ticket_id, "at": utc_now(), "why": disposition[:40]}
            if actor != actors.RESIDENT and not supervisor:
                changed = _CLOSE_CLAIMED.execute(connection, {**values, "who": actor}).rowcount
            else:
                changed = _CLOSE_OPEN.execute(connection, values).rowcount
            if changed != 1:
                raise TicketError(f"ticket {ticket_id} cannot be closed by {actor}")
            self._event(connection, ticket_id, TicketEvent.CLOSED,
                        actors.RESIDENT if actor == actors.RESIDENT else actors.staff(actor))
            return self._observe(connection, ticket_id, TicketEvent.CLOSED)
