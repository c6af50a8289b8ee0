"""A turn's held writes: replaced by key, read back before the commit, and run in the
order held, the ones that lock a row every turn shares (held `last`) after the rest."""

from __future__ import annotations

from typing import Any

from bot.storage import unit


def test_held_writes_run_in_order_with_the_shared_rows_last() -> None:
    ran: list[str] = []

    def write(name: str) -> Any:
        return lambda _connection: ran.append(name)

    with unit.holding() as held:
        assert unit.current() is held
        held.hold("counts:1", 1, write("counts"), last=True)
        held.hold("conversation", "a", write("conversation a"))
        held.hold("address", "x", write("address"))
        held.hold("conversation", "b", write("conversation b"))  # the last save counts
        held.hold("gone", 0, write("gone"), last=True)
        held.drop("gone")
        assert held.value("conversation") == "b" and held.holds("counts:1") and len(held) == 3
        held.commit(None)  # type: ignore[arg-type]
    assert ran == ["address", "conversation b", "counts"]
    assert unit.current() is None


def test_a_key_held_again_without_last_runs_in_its_new_place() -> None:
    ran: list[str] = []
    with unit.holding() as held:
        held.hold("k", 1, lambda _c: ran.append("k first"), last=True)
        held.hold("other", 2, lambda _c: ran.append("other"))
        held.hold("k", 3, lambda _c: ran.append("k again"))
        held.commit(None)  # type: ignore[arg-type]
    assert ran == ["other", "k again"]
