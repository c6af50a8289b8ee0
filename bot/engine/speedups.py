"""Measured fixes to Rasa 3.6's per-message cost (see README, "Performance").

1. Rasa runs its prediction and NLU graphs through dask on every message. These graphs
   are tiny; a depth-first evaluation of the same minimal schema gives the same results
   without dask's scheduling overhead. The processor imports DaskGraphRunner by name, so
   that name is replaced there.
2. `Event.resolve_by_type` walks every Event subclass (recursively, with `inspect`) for
   every event it deserialises. The mapping from type name to class is fixed once Rasa
   is imported, so it is built once and rebuilt only on a miss.
3. The processor deep-copies events and parse data on every turn only to pass them to
   structlog debug calls (every `copy.` in rasa/core/processor.py is such an argument).
   This bot never emits those logs (they would contain resident text), so the copies are
   skipped there.
4. `DialogueStateTracker.copy` builds an empty tracker and replays every event of the
   conversation into it; the processor copies the tracker for every action it runs (two
   a turn here), so the cost grew with the conversation. The tracker's state is a
   function of its events, so copying the state (slots and loop copied, events in a new
   deque, the same event objects as the replay would share) gives the same tracker;
   `copy_tracker` falls back to the replay where the two could differ (a capped event
   history, whose replay would forget what fell off). tests/engine/test_speedups.py holds
   the two equal on real conversations.
5. `Domain.is_empty`, asked on every parsed message (the processor's check for unknown
   intents), builds an empty Domain from a dict to compare with; the empty domain's dict
   is built once instead.
6. `action_for_name_or_text` (every action the processor runs, and the slot extraction
   of every message) builds Rasa's twelve default actions anew to look one up: 80 us a
   call, two or three a turn. They keep nothing but their endpoint (none here), so
   without an endpoint the same twelve are handed out each time (a fresh list of them).
7. After `utter_kyr` the flow policy always answers `action_listen` (bot.engine.policy:
   "we answered: wait"), yet Rasa ran the whole prediction graph to hear it: a second
   graph run, policy ensemble and prediction a turn. `utter_kyr` now names
   `action_listen` as its follow-up (Rasa's FollowupAction event, applied after the
   action's own ActionExecuted), which the processor takes without running the graph;
   the listen's own ActionExecuted clears it. The stored conversation never keeps the
   follow-up (bot.storage.tracker_store.compact folds it away).
8. Rasa's InMemoryLockStore serialises a conversation's turns with numbered tickets,
   polled once a second when a second turn of the same conversation waits, and builds
   a ticket and a lock object for every message. `TurnLocks` keeps the contract (one
   turn of a conversation at a time in this process) with one asyncio.Lock per
   conversation in use: a waiting turn goes as soon as the other ends. (Across workers,
   the inbox's claim keeps the order: bot.app.inbox.)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import deque
from typing import Any, AsyncIterator, Dict, List, Optional, Text, Tuple, Type

import rasa.core.actions.action
import rasa.core.processor
import rasa.shared.utils.common
from rasa.core.actions.action import ActionBotResponse
from rasa.core.lock_store import InMemoryLockStore
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, FollowupAction
from rasa.shared.core.trackers import DialogueStateTracker

from bot.engine.policy import UTTER

_installed = False


class SequentialGraphRunner(DaskGraphRunner):
    """Evaluates the graph depth-first in the calling thread; same inputs and outputs."""

    _minimal_cache: Dict[Tuple[Text, ...], GraphSchema]

    def run(
        self,
        inputs: Optional[Dict[Text, Any]] = None,
        targets: Optional[List[Text]] = None,
    ) -> Dict[Text, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        cache = self.__dict__.setdefault("_minimal_cache", {})
        schema = cache.get(run_targets)
        if schema is None:
            schema = cache[run_targets] = self._graph_schema.minimal_graph_schema(list(run_targets))
        results: Dict[Text, Tuple[Text, Any]] = {
            name: (name, value) for name, value in (inputs or {}).items()
        }

        def compute(name: Text) -> Tuple[Text, Any]:
            done = results.get(name)
            if done is None:
                needs = schema.nodes[name].needs.values()
                done = results[name] = self._instantiated_nodes[name](*(compute(n) for n in needs))
            return done

        return dict(compute(target) for target in run_targets)


class _NoCopy:
    """Stands in for the `copy` module inside rasa.core.processor (see point 3)."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value


_event_types: Dict[Text, Type[Event]] = {}


def _refresh_event_types() -> None:
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        _event_types.setdefault(cls.type_name, cls)  # first match wins, as in Rasa


def resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    cls = _event_types.get(type_name)
    if cls is None:
        _refresh_event_types()
        cls = _event_types.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None  # Rasa's backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


_replay_copy = DialogueStateTracker.copy  # Rasa's own, kept for the fallback and the tests


def copy_tracker(self: DialogueStateTracker) -> DialogueStateTracker:
    """A duplicate of the tracker, as Rasa's `copy` makes it by replaying every event."""
    if self._max_event_history is not None:
        return _replay_copy(self)
    new = copy.copy(self)
    new.events = deque(self.events)
    slots = type(self.slots)()
    slots.update((name, copy.copy(slot)) for name, slot in self.slots.items())
    new.slots = slots
    new.active_loop = copy.copy(self.active_loop)
    new.latest_action = dict(self.latest_action) if self.latest_action is not None else None
    new.model_id = new.assistant_id = None  # as Rasa's init_copy leaves them
    return new


_empty_domain: Dict[Text, Any] = {}


def domain_is_empty(self: Domain) -> bool:
    """Rasa's `Domain.is_empty`, with the empty domain's dict made once."""
    if not _empty_domain:
        _empty_domain.update(Domain.empty().as_dict())
    return self.as_dict() == _empty_domain


_rasa_default_actions = rasa.core.actions.action.default_actions  # Rasa's own
_defaults: List[Any] = []


def default_actions(action_endpoint: Optional[Any] = None) -> List[Any]:
    """Rasa's default actions, built once when there is no action endpoint."""
    if action_endpoint is not None:
        return _rasa_default_actions(action_endpoint)
    if not _defaults:
        _defaults.extend(_rasa_default_actions(None))
    return list(_defaults)


_rasa_bot_response_run = ActionBotResponse.run  # Rasa's own


async def bot_response_run(self: ActionBotResponse, output_channel: Any, nlg: Any,
                           tracker: DialogueStateTracker, domain: Domain) -> List[Event]:
    """Rasa's response action; after `utter_kyr` (said), `action_listen` follows (point 7)."""
    events: List[Event] = await _rasa_bot_response_run(self, output_channel, nlg, tracker, domain)
    if events and self.utter_action == UTTER:
        events.append(FollowupAction(ACTION_LISTEN_NAME))
    return events


class TurnLocks(InMemoryLockStore):
    """One turn of a conversation at a time, with an asyncio.Lock each (point 8)."""

    def __init__(self) -> None:
        super().__init__()
        self._locks: Dict[Text, Tuple[asyncio.Lock, int]] = {}  # lock, turns holding or waiting

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = 0,  # type: ignore[override]
                   wait_time_in_seconds: float = 0) -> AsyncIterator[None]:
        lock, users = self._locks.get(conversation_id) or (asyncio.Lock(), 0)
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[conversation_id]
            if users <= 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)

    def in_use(self) -> int:
        """Conversations with a turn running or waiting (the tests' view)."""
        return len(self._locks)


def install() -> None:
    """Idempotent; must run before the Agent loads its model."""
    global _installed
    if _installed:
        return
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
    rasa.core.processor.copy = _NoCopy  # type: ignore[assignment]
    DialogueStateTracker.copy = copy_tracker  # type: ignore[method-assign]
    Domain.is_empty = domain_is_empty  # type: ignore[method-assign]
    rasa.core.actions.action.default_actions = default_actions  # type: ignore[assignment]
    ActionBotResponse.run = bot_response_run  # type: ignore[method-assign]
    _installed = True
