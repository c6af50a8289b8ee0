"""The conversation service does its database work off the event loop, and the residents
service keeps an address only while a purpose needs it."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from bot.app.residents import TICKET
from bot.app.services import Services
from bot.core.messages import InboundMessage
from bot.testing import TestBot


async def test_ticket_and_tracker_reads_run_on_database_threads(
        services: Services, bot: TestBot, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    store = services.engine.store
    open_for, retrieve, read = services.tickets.open_for, store.retrieve_now, store.read_now

    def recording_open_for(resident: str, connection=None):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return open_for(resident, connection)

    def recording_retrieve(sender: str):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return retrieve(sender)

    def recording_read(connection, sender: str):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return read(connection, sender)

    monkeypatch.setattr(services.tickets, "open_for", recording_open_for)
    monkeypatch.setattr(store, "retrieve_now", recording_retrieve)
    monkeypatch.setattr(store, "read_now", recording_read)
    await bot.say("/menu")
    assert len(seen) >= 2 and all(name.startswith("kyr-db") for name in seen), seen
    assert threading.current_thread().name not in seen


async def test_a_message_reads_its_conversation_once(services: Services, bot: TestBot) -> None:
    """The ticket check, the stored conversation and the alerts' "seen" go in one trip and
    one transaction; Rasa's retrieve starts from that read instead of reading again."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = services.tickets.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        first = await bot.say("/menu")
        reads = [s for s in statements if s.startswith("SELECT") and "FROM kyr_conversations" in s]
        assert len(reads) == 1, statements
        statements.clear()
        second = await bot.press_payload(first[-1].buttons[0].payload)  # from the saved state
        reads = [s for s in statements if s.startswith("SELECT") and "FROM kyr_conversations" in s]
        assert len(reads) == 1
        assert (second[0].flow, second[0].step) != (first[-1].flow, first[-1].step)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def test_an_address_is_kept_for_its_purpose_and_goes_with_it(services: Services, user: str) -> None:
    residents = services.residents
    resident = residents.key("test", user)
    residents.remember(resident, "+15550001111", TICKET)
    assert residents.address(resident) == "+15550001111"
    residents.release(resident, TICKET, still_open=True)  # the ticket still needs it
    assert residents.address(resident) == "+15550001111"
    residents.release(resident, TICKET)  # no open ticket: gone
    assert residents.address(resident) is None
    with pytest.raises(ValueError):
        residents.remember(resident, "+15550001111", "marketing")


async def test_erasure_takes_everything_through_one_service(services: Services, bot: TestBot) -> None:
    await bot.say("/human")
    resident = services.conversation.resident(InboundMessage("test", bot.user))
    assert services.tickets.open_for(resident) is not None
    assert services.residents.address(resident) == bot.user
    await services.residents.erase(resident)
    assert services.tickets.open_for(resident) is None
    assert services.residents.address(resident) is None
    assert await services.engine.store.retrieve(resident) is None
