"""The ticket service on SQLite and PostgreSQL: every state change, and the claim race."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import sqlalchemy as sa

from bot.handoff.tickets import (CLAIMED, CLOSED, OPEN, URGENT, AlreadyClaimed, TicketError,
                                 TicketService, ticket_messages, tickets as tickets_table)
from bot.storage.db import make_engine


@pytest.fixture
def service(database_url: str) -> Iterator[TicketService]:
    engine = make_engine(database_url)
    yield TicketService(engine, b"test-secret")
    engine.dispose()


def resident() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_open_claim_transfer_close_records_who(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "arrest_detention", "es", urgent=True)
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
    urgent = service.open(resident(), "telegram", "ice_at_door", "en", urgent=True)
    later = service.open(resident(), "telegram", "safety_plan", "en")
    assert [t.id for t in service.queue()] == [urgent.id, normal.id, later.id]
    assert service.position(normal.id) == 2
    service.claim(urgent.id, "ana")
    assert service.position(normal.id) == 1 and service.position(urgent.id) == 0
    assert service.expected_wait() is not None


def test_position_is_the_place_in_the_queue_even_for_tickets_opened_at_the_same_moment(
        service: TicketService) -> None:
    for ticket in service.queue():
        service.close(ticket.id, "resident", "cleanup")
    opened = [service.open(resident(), "telegram", "legal_help", "en", urgent=n % 3 == 0)
              for n in range(7)]
    same = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    with service.engine.begin() as connection:  # a tie on opened_at: the id decides
        connection.execute(sa.update(tickets_table).where(tickets_table.c.id.in_(
            [t.id for t in opened[2:6]])).values(opened_at=same))
    queue = [t.id for t in service.queue()]
    assert sorted(queue) == sorted(t.id for t in opened)
    assert [service.position(i) for i in queue] == list(range(1, len(queue) + 1))
    assert service.position(2**31 - 1) == 0


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


# ---- the transcript: sealed, delivery status, purge, erase, the console's version ----

def test_transcript_is_sealed_at_rest_and_read_back_in_order(service: TicketService) -> None:
    ticket = service.open(resident(), "whatsapp", "legal_help", "es", path=("main_menu/menu",))
    before = service.version()
    first = service.add_message(ticket.id, "resident", "resident", "mi esposo fue detenido en Cicero")
    assert service.version() > before  # the console sees a change
    reply = service.add_message(ticket.id, "staff:ana", "reply", "¿Sabe dónde lo llevaron?")
    service.delivered(reply, False, "outside the 24-hour window")
    lines = service.messages(ticket.id)
    assert [(m.id, m.kind, m.text) for m in lines] == [
        (first, "resident", "mi esposo fue detenido en Cicero"),
        (reply, "reply", "¿Sabe dónde lo llevaron?")]
    assert (lines[1].delivery, lines[1].reason) == ("failed", "outside the 24-hour window")
    assert service.get(ticket.id).path == ("main_menu/menu",)
    with service.engine.connect() as connection:
        raw = " ".join(str(v) for row in connection.execute(sa.select(ticket_messages)) for v in row)
    assert "Cicero" not in raw and "detenido" not in raw
    assert service.events(ticket.id, "resident", "reply") == [("resident", "resident"), ("reply", "staff:ana")]
    # The state changes alone are still what events() reports by default.
    assert service.events(ticket.id) == [("opened", "resident")]


def test_a_resident_line_moves_the_last_seen_time(service: TicketService) -> None:
    ticket = service.open(resident(), "whatsapp", "legal_help", "en")
    opened = service.get(ticket.id).last_inbound_at
    service.add_message(ticket.id, "staff:ana", "reply", "hello")
    assert service.get(ticket.id).last_inbound_at == opened  # staff lines do not count
    service.add_message(ticket.id, "resident", "resident", "hi")
    assert service.get(ticket.id).last_inbound_at >= opened  # type: ignore[operator]


def test_purge_removes_text_of_closed_tickets_only_after_the_retention(service: TicketService) -> None:
    closed_one = service.open(resident(), "telegram", "legal_help", "en")
    service.add_message(closed_one.id, "resident", "resident", "old words")
    service.close(closed_one.id, "resident", "left")
    still_open = service.open(resident(), "telegram", "legal_help", "en")
    service.add_message(still_open.id, "resident", "resident", "current words")
    assert service.purge_transcripts(dt.timedelta(hours=1)) == 0  # closed just now: kept
    assert service.purge_transcripts(dt.timedelta(seconds=-1)) >= 1
    assert [m.text for m in service.messages(closed_one.id)] == [None]  # the line stays, no text
    assert [m.text for m in service.messages(still_open.id)] == ["current words"]


def test_erase_resident_removes_tickets_transcripts_and_events(service: TicketService) -> None:
    who = resident()
    ticket = service.open(who, "telegram", "legal_help", "en")
    service.add_message(ticket.id, "resident", "resident", "my name is Rosa")
    service.close(ticket.id, "resident", "left")
    service.open(who, "telegram", "ice_at_door", "en")
    other = service.open(resident(), "telegram", "legal_help", "en")
    assert service.erase_resident(who) == 2
    assert service.open_for(who) is None
    with pytest.raises(TicketError):
        service.get(ticket.id)
    assert service.messages(ticket.id) == [] and service.events(ticket.id) == []
    assert service.get(other.id).status == OPEN


def test_a_changed_secret_key_makes_old_text_unreadable_not_a_crash(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    service.add_message(ticket.id, "resident", "resident", "words")
    other_key = TicketService(service.engine, b"another-secret")
    assert [m.text for m in other_key.messages(ticket.id)] == [None]


def test_after_the_retention_a_closed_ticket_no_longer_says_whose_it_was(service: TicketService) -> None:
    who = resident()
    ticket = service.open(who, "telegram", "arrest_detention", "en", path=("arrest_detention/who",))
    service.close(ticket.id, "resident", "left")
    service.purge_transcripts(dt.timedelta(seconds=-1))
    kept = service.get(ticket.id)
    assert kept.resident != who and kept.path == () and kept.topic == "arrest_detention"


def test_overnight_waits_do_not_count_in_the_expected_wait(service: TicketService) -> None:
    for ticket in service.queue():
        service.close(ticket.id, "resident", "cleanup")
    in_hours = service.open(resident(), "telegram", "legal_help", "en")
    overnight = service.open(resident(), "telegram", "legal_help", "en", after_hours=True)
    with service.engine.begin() as connection:  # it waited ten hours for the hotline to open
        connection.execute(sa.update(tickets_table).where(tickets_table.c.id == overnight.id).values(
            opened_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=10)))
    service.claim(in_hours.id, "ana")
    service.claim(overnight.id, "ana")  # the most recent claim: counted, the median would be 5 h
    wait = service.expected_wait(recent=2)
    assert wait is None or wait < dt.timedelta(hours=1)
    assert wait is not None  # the in-hours ticket (and one earlier claim) do count


def test_a_supervisor_can_take_over_or_close_anyones_ticket(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    service.claim(ticket.id, "ana")
    with pytest.raises(TicketError):
        service.transfer(ticket.id, "mei", "mei")  # not hers, and she is not a supervisor
    assert service.transfer(ticket.id, "mei", "mei", supervisor=True).assignee == "mei"
    assert service.close(ticket.id, "boss", "resolved", supervisor=True).status == CLOSED
    waiting = service.open(resident(), "telegram", "legal_help", "en")
    given = service.transfer(waiting.id, "boss", "luis", supervisor=True)  # hand a waiting one out
    assert (given.status, given.assignee) == (CLAIMED, "luis") and given.claimed_at is not None


def test_two_messages_asking_at_once_open_one_ticket(service: TicketService) -> None:
    who = resident()
    barrier = threading.Barrier(4)
    opened: list[int] = []

    def ask() -> None:
        barrier.wait()
        opened.append(service.open(who, "telegram", "legal_help", "en").id)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(opened)) == 1 and len(opened) == 4
    with service.engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(tickets_table).where(
            tickets_table.c.resident == who)).scalar()
    assert count == 1


def test_ids_are_never_reused_after_an_erase(service: TicketService) -> None:
    """A staff page or audit entry for an erased ticket must never reach someone else's."""
    who = resident()
    erased = service.open(who, "telegram", "legal_help", "en")
    service.add_message(erased.id, "resident", "resident", "words")
    service.erase_resident(who)
    newer = service.open(resident(), "telegram", "legal_help", "en")
    assert newer.id > erased.id


def test_the_log_stores_the_same_plain_words(service: TicketService) -> None:
    """The event kinds are a str enum and actors come from bot.core.actors: what reaches the
    table must still be the words older rows hold (no migration was made for them)."""
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    service.escalate(ticket.id)
    service.claim(ticket.id, "ana")
    service.transfer(ticket.id, "ana", "luis")
    service.unclaim(ticket.id, "luis")
    service.claim(ticket.id, "ana")
    service.delivered(service.add_message(ticket.id, "staff:ana", "reply", "hola"), True)
    service.noticed(ticket.id, "receipt")
    service.close(ticket.id, "ana", "resolved")
    with service.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT kind, actor FROM kyr_ticket_events WHERE "
                                          "ticket_id = :t ORDER BY id"), {"t": ticket.id}).all()
    assert [(k, a) for k, a in rows] == [
        ("opened", "resident"), ("escalated", "resident"), ("claimed", "staff:ana"),
        ("transferred", "staff:ana"), ("unclaimed", "staff:luis"), ("claimed", "staff:ana"),
        ("reply", "staff:ana"), ("delivery", "bot"), ("receipt", "bot"), ("closed", "staff:ana")]
    assert all(type(k) is str and type(a) is str for k, a in rows)
