"""A Rasa tracker store on our own table: one row per resident, the current session only.

Rasa's SQLTrackerStore keeps one row per event forever and re-reads them all on every
message. Here a save rewrites one row holding the events since the last session start,
with the resident's words and the bot's message texts blanked out: the flow state lives
in slots, so neither is needed once the turn is over, and text we do not keep cannot be
seized. (A handoff keeps its own transcript, for as long as the ticket needs it.)

Inside an inbox worker's turn (bot.storage.unit.holding) a save is held, not written: the
worker commits it with the turn's replies and the inbox row's "done" in one transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import Connection, Engine

from bot.storage.db import conversations, transaction, utc_now
from bot.storage.prepared import Prepared
from bot.storage import unit
from bot.storage.offload import off_loop

SESSION_START = "action_session_start"


def current_session(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == SESSION_START:
            return events[index:]
    return events


def compact(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The conversation reduced to its net effect around its latest user turn.

    Rasa replays every stored event on each load and tracker copy; the dialogue needs
    only the session start, the latest value of each slot, whether the conversation is
    paused, the latest user turn (its timestamp decides when the session expires) with
    the action before it, and the action the turn ended on (the policy answers a user
    turn only after `action_listen`). So a turn costs the same in minute one and minute
    fifty, and a row holds about seven events, not twelve: the turn's own bot messages,
    its `utter_kyr` and its featurization flag were kept a turn longer before, read by
    nothing. A slot set during the turn is stored before the user turn: a tracker's
    slots are the same in either order.
    """
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=None)
    if last_user is None:
        return events
    tail = events[last_user + 1:]
    folded = all(e.get("event") in _FOLDED_AFTER_USER for e in tail)
    if folded:  # the turn's own events reduce to its slots and the action it ended on
        tail_kept = tail[-1:] if tail and tail[-1].get("event") == "action" else []
    else:  # something the turn did that is not folded here: the turn is kept as it was
        tail_kept = tail
    head: List[Dict[str, Any]] = []
    latest: Dict[str, Dict[str, Any]] = {}
    for index, event in enumerate(events if folded else events[:last_user]):
        kind = event.get("event")
        if index == last_user:
            continue
        if kind == "session_started" or (kind == "action" and event.get("name") == SESSION_START):
            if index < last_user:
                head.append(event)
        elif kind == "slot":
            latest[f"slot:{event.get('name')}"] = event
        elif kind in ("pause", "resume"):
            latest["paused"] = event
    before = events[last_user - 1] if last_user else None
    listen = [before] if before and before.get("event") == "action" else []
    return head + list(latest.values()) + listen + [events[last_user]] + tail_kept


# What a turn's events after its user turn may be for them to be folded (anything else, a
# restart say, keeps that turn's events as they were).
# ("followup": the listen that follows utter_kyr, bot.engine.speedups point 7; spent by the
# listen's own ActionExecuted, so it is not kept.)
_FOLDED_AFTER_USER = frozenset({"slot", "action", "bot", "user_featurization", "pause", "resume",
                                "followup"})


def redact(event: Dict[str, Any]) -> Dict[str, Any]:
    """Keep what the dialogue needs (intents, slots, actions), not what was said."""
    kind = event.get("event")
    if kind == "bot":
        # Our messages are re-rendered from content on demand; only their place is kept.
        return {"event": "bot", "timestamp": event.get("timestamp"), "text": None,
                "data": {}, "metadata": {}}
    if kind != "user":
        return event
    event = dict(event)
    event["text"] = None
    parse_data = dict(event.get("parse_data") or {})
    parse_data["text"] = None
    parse_data.pop("intent_ranking", None)
    parse_data["entities"] = []  # used within the turn only; nothing typed outlives it
    event["parse_data"] = parse_data
    event.pop("metadata", None)
    return event


# Built once and run on the driver's cursor (bot.storage.prepared): every message reads
# and writes its conversation, and SQLAlchemy's execution path cost more than SQLite's work.
_UPDATE = Prepared(sa.text(f"UPDATE {conversations.name} SET events = :events, "
                           "updated_at = :updated_at WHERE resident = :resident").bindparams(
    sa.bindparam("updated_at", type_=sa.DateTime(timezone=True))))
_INSERT = Prepared(sa.text(f"INSERT INTO {conversations.name} (resident, events, updated_at) "
                           "VALUES (:resident, :events, :updated_at)").bindparams(
    sa.bindparam("updated_at", type_=sa.DateTime(timezone=True))))
_SELECT = Prepared(sa.text(f"SELECT events FROM {conversations.name} WHERE resident = :resident"))


@dataclass
class Stored:
    """A conversation's stored row as the turn's first trip to the database read it
    (`raw` None: no conversation yet), handed to the turn so that Rasa's retrieve does not
    read it again. Used once: a later retrieve in the same turn reads what was saved."""

    sender_id: str
    raw: Optional[str]
    used: bool = False


_preloaded: contextvars.ContextVar[Optional[Stored]] = contextvars.ContextVar(
    "kyr_preloaded_conversation", default=None)


class KyrTrackerStore(TrackerStore):
    def __init__(self, domain: Optional[Domain], engine: Engine) -> None:
        super().__init__(domain)
        self.engine = engine

    def read_now(self, connection: Connection, sender_id: Text) -> Stored:
        """The stored row, on the caller's connection (the turn's first trip)."""
        return Stored(sender_id, _SELECT.execute(connection, {"resident": sender_id}).scalar())

    @contextlib.contextmanager
    def preloaded(self, stored: Optional[Stored]) -> Iterator[None]:
        """Within this block (one turn's task), the first retrieve of `stored`'s
        conversation answers from it instead of the database."""
        token = _preloaded.set(stored)
        try:
            yield
        finally:
            _preloaded.reset(token)

    @staticmethod
    def _unload(sender_id: Text) -> None:
        """A save or an erasure of this conversation: the preloaded row is no longer it."""
        stored = _preloaded.get()
        if stored is not None and stored.sender_id == sender_id:
            stored.used = True

    async def save(self, tracker: DialogueStateTracker) -> None:
        self._unload(tracker.sender_id)
        held = unit.current()
        if held is None:
            await off_loop(self.save_now, tracker)
            return
        row = self._row(tracker)  # in the turn: committed with its replies (bot.app.worker)
        held.hold(self._key(tracker.sender_id), row, lambda connection: self._write(connection, row))

    def save_now(self, tracker: DialogueStateTracker) -> None:
        row = self._row(tracker)
        with transaction(self.engine) as connection:
            self._write(connection, row)

    @staticmethod
    def _key(sender_id: Text) -> str:
        return f"conversation:{sender_id}"

    @staticmethod
    def _row(tracker: DialogueStateTracker) -> Dict[str, Any]:
        events = compact([redact(e) for e in current_session(
            [event.as_dict() for event in tracker.events])])
        return {"resident": tracker.sender_id, "events": json.dumps(events, ensure_ascii=False),
                "updated_at": utc_now()}

    @staticmethod
    def _write(connection: sa.engine.Connection, row: Dict[str, Any]) -> None:
        if not _UPDATE.execute(connection, row).rowcount:
            _INSERT.execute(connection, row)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        held = unit.current()
        if held is not None and held.holds(self._key(sender_id)):  # this turn's own save
            row = held.value(self._key(sender_id))
            return None if row is None else self._tracker(sender_id, row["events"])
        stored = _preloaded.get()
        if stored is not None and stored.sender_id == sender_id and not stored.used:
            stored.used = True
            return None if stored.raw is None else self._tracker(sender_id, stored.raw)
        return await off_loop(self.retrieve_now, sender_id)

    def retrieve_now(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        with self.engine.connect() as connection:
            raw = self.read_now(connection, sender_id).raw
        return None if raw is None else self._tracker(sender_id, raw)

    def _tracker(self, sender_id: Text, raw: str) -> DialogueStateTracker:
        return DialogueStateTracker.from_dict(sender_id, json.loads(raw), self.domain.slots)

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        return await self.retrieve(conversation_id)

    async def keys(self) -> Iterable[Text]:
        with self.engine.connect() as connection:
            return [r[0] for r in connection.execute(sa.select(conversations.c.resident))]

    def purge(self, older_than: dt.timedelta) -> int:
        """Delete conversations idle for longer than `older_than`; returns how many.

        (The rest of a resident's data is bot.app.residents' to purge.)"""
        cutoff = utc_now() - older_than
        with transaction(self.engine) as connection:
            return int(connection.execute(
                sa.delete(conversations).where(conversations.c.updated_at < cutoff)).rowcount)

    async def delete(self, sender_id: Text) -> None:
        self._unload(sender_id)
        self.forget_held(sender_id)
        await off_loop(self.delete_now, sender_id)

    def forget_held(self, sender_id: Text) -> None:
        """Erased within a turn: the turn's held save must not bring the conversation back
        at its commit, so a delete is held in its place (and the turn reads None)."""
        self._unload(sender_id)
        held = unit.current()
        if held is not None:
            held.hold(self._key(sender_id), None, lambda connection: connection.execute(
                sa.delete(conversations).where(conversations.c.resident == sender_id)))

    def delete_now(self, sender_id: Text) -> None:
        """The resident's conversation (bot.app.residents erases the rest with it)."""
        with transaction(self.engine) as connection:
            connection.execute(sa.delete(conversations).where(conversations.c.resident == sender_id))
