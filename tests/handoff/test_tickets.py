"""The ticket service on SQLite and PostgreSQL: every state change, and the claim race."""

from __future__ import annotations

import threading
import uuid
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.handoff.tickets import (CLAIMED, CLOSED, OPEN, URGENT, AlreadyClaimed, TicketError,
                                 TicketService)
from bot.storage.db import make_engine


@pytest.fixture
def service(database_url: str) -> Iterator[TicketService]:
    engine = make_engine(database_url)
    yield TicketService(engine, b"test-secret")
    engine.dispose()


def resident() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_open_claim_transfer_close_records_who(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "arrest_detention", "es")
    assert ticket.status == OPEN and ticket.priority == URGENT
    assert service.open(ticket.resident, "telegram", "legal_help", "es").id == ticket.id  # one at a time
    claimed = service.claim(ticket.id, "ana")
    assert claimed.status == CLAIMED and claimed.assignee == "ana" and claimed.claimed_at
    moved = service.transfer(ticket.id, "ana", "luis")
    assert moved.assignee == "luis"
    with pytest.raises(TicketError):
        service.close(ticket.id, "ana", "resolved")  # no longer hers
    closed = service.close(ticket.id, "luis", "referred to legal aid")
    assert closed.status == CLOSED and closed.disposition == "referred to legal aid"
    assert service.events(ticket.id) == [("opened", "resident"), ("claimed", "staff:ana"),
                                         ("transferred", "staff:ana"), ("closed", "staff:luis")]
    with pytest.raises(TicketError):
        service.claim(ticket.id, "ana")
    assert service.open_for(ticket.resident) is None


def test_the_resident_can_stop_waiting(service: TicketService) -> None:
    ticket = service.open(resident(), "whatsapp", "legal_help", "pl")
    assert service.close(ticket.id, "resident", "resident left").status == CLOSED
    assert service.events(ticket.id)[-1] == ("closed", "resident")


def test_queue_is_urgent_first_then_oldest(service: TicketService) -> None:
    for ticket in service.queue():  # PostgreSQL keeps earlier runs' tickets
        service.close(ticket.id, "resident", "cleanup")
    normal = service.open(resident(), "telegram", "legal_help", "en")
    urgent = service.open(resident(), "telegram", "ice_at_door", "en")
    later = service.open(resident(), "telegram", "safety_plan", "en")
    assert [t.id for t in service.queue()] == [urgent.id, normal.id, later.id]
    assert service.position(normal.id) == 2
    service.claim(urgent.id, "ana")
    assert service.position(normal.id) == 1 and service.position(urgent.id) == 0
    assert service.expected_wait() is not None


def test_two_staff_claiming_at_once_exactly_one_wins(service: TicketService) -> None:
    for _ in range(5):
        ticket = service.open(resident(), "telegram", "arrest_detention", "es")
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def claim(staff: str) -> None:
            barrier.wait()
            try:
                service.claim(ticket.id, staff)
                results[staff] = "won"
            except AlreadyClaimed:
                results[staff] = "told"

        threads = [threading.Thread(target=claim, args=(name,)) for name in ("ana", "luis")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == ["told", "won"]
        winner = next(name for name, result in results.items() if result == "won")
        assert service.get(ticket.id).assignee == winner
        assert [e for e in service.events(ticket.id) if e[0] == "claimed"] == [("claimed", f"staff:{winner}")]


OPS = st.lists(st.tuples(st.sampled_from(["claim", "transfer", "close", "stop"]),
                         st.sampled_from(["ana", "luis", "mei"])), max_size=8)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_any_sequence_keeps_the_ticket_consistent(service: TicketService, ops: list) -> None:  # type: ignore[type-arg]
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    for op, staff in ops:
        try:
            if op == "claim":
                service.claim(ticket.id, staff)
            elif op == "transfer":
                service.transfer(ticket.id, service.get(ticket.id).assignee or staff, staff)
            elif op == "close":
                service.close(ticket.id, service.get(ticket.id).assignee or staff, "done")
            else:
                service.close(ticket.id, "resident", "left")
        except TicketError:
            pass
        current = service.get(ticket.id)
        assert (current.assignee is None) == (current.claimed_at is None)
        assert current.status in (OPEN, CLAIMED, CLOSED)
        if current.status == OPEN:
            assert current.assignee is None
        kinds = [k for k, _ in service.events(ticket.id)]
        assert kinds.count("claimed") <= 1 and kinds.count("closed") == (current.status == CLOSED)
