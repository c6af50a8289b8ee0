"""A turn's writes, held until the turn commits them in one transaction.

An inbox worker runs a turn inside `holding()`; a store that supports it (the tracker
store) then keeps its writes here instead of committing them at once, and the worker
commits them in the transaction that writes the turn's replies to the outbox and marks
its inbox row done. So a crash anywhere in a turn leaves either all three or none: never
a conversation advanced without its replies, nor replies for a turn that will run again.

Held per task (a context variable): concurrent turns of different conversations each
hold their own. Code outside a turn (the terminal, the console) writes at once.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator, Optional

from sqlalchemy.engine import Connection

Write = Callable[[Connection], None]

_current: contextvars.ContextVar[Optional["Held"]] = contextvars.ContextVar(
    "kyr_held_writes", default=None)


class Held:
    """Writes by key: a later write of the same key replaces the earlier (the last save
    of a conversation is the one that counts); each keeps the value it writes, so the
    turn reads back what it wrote (read-your-writes before the commit)."""

    def __init__(self) -> None:
        self._writes: dict[str, tuple[Any, Write]] = {}
        self._last: set[str] = set()

    def hold(self, key: str, value: Any, write: Write, last: bool = False) -> None:
        """`last`: the write locks a row every turn shares (the day's counters: on
        PostgreSQL each turn's upsert waits for the previous turn's commit, 4.1 ms on average
        in the serving bench), so it runs after the others and holds its lock only for the
        commit."""
        self._writes.pop(key, None)
        self._writes[key] = (value, write)
        if last:
            self._last.add(key)
        else:
            self._last.discard(key)

    def value(self, key: str, default: Any = None) -> Any:
        entry = self._writes.get(key)
        return default if entry is None else entry[0]

    def holds(self, key: str) -> bool:
        return key in self._writes

    def drop(self, key: str) -> None:
        """Forget a held write (the data it would write was erased meanwhile)."""
        self._writes.pop(key, None)
        self._last.discard(key)

    def commit(self, connection: Connection) -> None:
        """Run every held write, in the order held (those held `last` after the others), on
        the caller's transaction."""
        for key, (_, write) in self._writes.items():
            if key not in self._last:
                write(connection)
        for key, (_, write) in self._writes.items():
            if key in self._last:
                write(connection)

    def __len__(self) -> int:
        return len(self._writes)


def current() -> Optional[Held]:
    """The writes of the turn running in this task, or None outside a turn."""
    return _current.get()


@contextlib.contextmanager
def holding() -> Iterator[Held]:
    held = Held()
    token = _current.set(held)
    try:
        yield held
    finally:
        _current.reset(token)
