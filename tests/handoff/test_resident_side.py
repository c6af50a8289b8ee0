"""The resident's side of a handoff, through the real services: asking, waiting, stopping,
being handed back, hours, and nothing written while waiting lost."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import pytest

from bot.core.handoff import open_at
from bot.app.services import Services
from bot.app.relay import Relay
from bot.testing import deliver_queued
from bot.handoff.tickets import CLOSED, NORMAL, OPEN, URGENT, TicketError, TicketService
from bot.testing import TestBot
from tests.channels.recording import RecordingChannel
from tests.conftest import HOTLINE_OPEN

SUNDAY_NIGHT = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)  # 01:00 Monday, Chicago


@pytest.fixture
def after_hours(services: Services) -> Iterator[None]:
    before = services.conversation.clock
    services.conversation.clock = lambda: SUNDAY_NIGHT
    yield
    services.conversation.clock = before


@pytest.fixture(autouse=True)
def hours_from_content(services: Services) -> Iterator[None]:
    """These tests are about the hotline's hours in content: staff accounts that console
    tests left in the shared database (nobody on shift) must not decide instead."""
    before = services.conversation.presence
    services.conversation.presence = lambda: None
    yield
    services.conversation.presence = before


def texts(replies: list) -> str:  # type: ignore[type-arg]
    return "\n".join(r.text for r in replies)


async def test_asking_for_a_person_opens_a_ticket_and_says_where_they_stand(
        services: Services, bot: TestBot) -> None:
    await bot.say("/start es")
    await bot.press("Español")
    replies = await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and ticket.status == OPEN
    assert (ticket.topic, ticket.language, ticket.channel, ticket.priority) == \
        ("talk_to_person", "es", "test", NORMAL)
    said = texts(replies)
    position = services.tickets.position(ticket.id)
    assert services.renderer.text("es", "handoff.queued", position=str(position)) in said
    assert services.renderer.text("es", "handoff.privacy") in said  # no status, no full name
    assert [b.payload for b in replies[-1].buttons] == ["/stop"]
    assert ticket.path and ticket.path[-1] == "talk_to_person/hotline"


async def test_what_they_write_while_waiting_goes_to_staff_and_the_bot_keeps_guiding(
        services: Services, bot: TestBot) -> None:
    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None
    # No one has written yet: the bot still answers what it can, and staff see it all.
    receipt = await bot.say("2")  # nothing for the bot to add: a short receipt
    assert texts(receipt) == services.renderer.text("en", "handoff.receipt")
    assert await bot.say("hello??") == []  # not another one within minutes
    answered = await bot.say("my brother was taken at the bus stop on 26th street")
    assert answered and answered[-1].flow == "stopped_in_public"
    lines = [(m.kind, m.text) for m in services.tickets.messages(ticket.id)]
    assert ("resident", "my brother was taken at the bus stop on 26th street") in lines
    assert ("resident", "2") in lines
    # Nothing is lost across a restart: a new service on the same database reads it all.
    again = TicketService(services.db, services.settings.secret_key())
    assert [m.text for m in again.messages(ticket.id)] == [m.text for m in services.tickets.messages(ticket.id)]
    # /human again: where they stand, not a second ticket
    replies = await bot.say("/human")
    assert services.renderer.text("en", "handoff.already_waiting") in texts(replies)
    assert services.tickets.open_for(ticket.resident).id == ticket.id  # type: ignore[union-attr]


async def test_a_photo_while_waiting_is_answered_and_noted_for_staff(services: Services, bot: TestBot) -> None:
    from bot.core.messages import InboundMessage

    await bot.say("/human")
    # No channel here fetches media (tests/app/test_media_flow.py has one that does): the
    # resident is told it could not be passed on, staff read that a photo came.
    replies = await services.conversation.handle(InboundMessage("test", bot.user, media="photo"))
    assert services.renderer.text("en", "handoff.media_failed") in texts(replies)
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and any("photo" in (m.text or "") for m in services.tickets.messages(ticket.id))
    # A sticker is still only named: the bot reads text.
    replies = await services.conversation.handle(InboundMessage("test", bot.user, media="sticker"))
    assert services.renderer.text("en", "ui.text_only") in texts(replies)


@pytest.mark.parametrize("command", ["/menu", "/stop"])
async def test_menu_or_stop_ends_the_wait(services: Services, bot: TestBot, command: str) -> None:
    await bot.say("/human")
    resident = services.conversation.resident(bot_inbound(bot))
    ticket = services.tickets.open_for(resident)
    assert ticket is not None
    replies = await bot.say(command)
    if command == "/menu":  # asks first: the place in line is not given up by a slip
        assert services.tickets.get(ticket.id).status == OPEN
        assert texts(replies) == services.renderer.text("en", "handoff.menu_confirm")
        replies = await bot.press("Stop waiting")
    assert services.tickets.get(ticket.id).status == CLOSED
    assert services.tickets.events(ticket.id)[-1] == ("closed", "resident")
    assert services.renderer.text("en", "handoff.stopped") in texts(replies)
    assert bot.where == ("main_menu", "menu")
    assert (await bot.say("ICE is at my door"))[-1].flow == "ice_at_door"  # the bot answers again


async def test_agents_at_the_door_now_opens_an_urgent_ticket_and_buttons_still_work(
        services: Services, bot: TestBot) -> None:
    await bot.say("/start")
    await bot.press("English")
    await bot.say("immigration agents are at my door right now")
    assert bot.where[0] == "ice_at_door"
    replies = await bot.press("Yes")  # they are there now
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and (ticket.topic, ticket.priority) == ("ice_at_door", URGENT)
    assert any(r.step == "at_door" for r in replies)
    # The rights script keeps answering its buttons while they wait for a person.
    step = next(r for r in replies if r.step == "ask_signed")
    signed = next(b for b in step.buttons if b.title == "Yes")
    assert "judicial" in [r.step for r in await bot.press_payload(signed.payload)]
    assert any((m.kind, m.text) == ("button", signed.payload) for m in services.tickets.messages(ticket.id))


async def test_after_hours_they_get_the_hours_and_emergency_numbers_and_can_leave_a_message(
        services: Services, bot: TestBot, after_hours: None) -> None:
    replies = await bot.say("/human")
    said = texts(replies)
    assert services.renderer.text("en", "handoff.after_hours") in said
    assert "911" in said and "+1 855-435-7693" not in said  # unconfirmed: not in an urgent text
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and ticket.after_hours
    assert texts(await bot.say("ok thanks, please call me back tomorrow")) == \
        services.renderer.text("en", "handoff.receipt")
    assert services.tickets.messages(ticket.id)[-1].text == "ok thanks, please call me back tomorrow"


async def test_closing_tells_the_resident_in_their_language_and_the_bot_resumes(
        services: Services, bot: TestBot) -> None:
    channel = RecordingChannel("test")
    await bot.say("/start pl")
    await bot.press("Polski")
    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None
    relay = Relay(services.tickets, services.residents, services.conversation, {"test": channel},
                  services.outbox)
    services.tickets.claim(ticket.id, "ana")
    _, reason = await relay.reply(ticket.id, "ana", "Dzień dobry, czytam Pana wiadomości.")
    await deliver_queued(services.outbox, relay.channels)
    assert reason is None and channel.sent[-1] == (bot.user, "Dzień dobry, czytam Pana wiadomości.")
    assert await relay.close(ticket.id, "ana", "resolved") is None
    await deliver_queued(services.outbox, relay.channels)
    closing = [text for user, text in channel.sent[1:]]
    assert services.renderer.text("pl", "handoff.closed") in closing[0]
    assert services.residents.address(ticket.resident) is None  # the address goes with the ticket
    replies = await bot.say("1")  # the menu that was shown is live again
    assert replies and replies[-1].flow not in (None, "main_menu")


async def test_delete_erases_the_ticket_and_its_transcript(services: Services, bot: TestBot) -> None:
    await bot.say("/human")
    resident = services.conversation.resident(bot_inbound(bot))
    ticket = services.tickets.open_for(resident)
    assert ticket is not None
    await bot.say("my name is Rosa")
    await bot.say("/delete")
    await bot.press("Yes, delete")
    assert services.tickets.open_for(resident) is None
    with pytest.raises(TicketError):
        services.tickets.get(ticket.id)
    assert services.residents.address(resident) is None


def test_hours_are_read_in_chicago_time_per_weekday() -> None:
    hours = {"mon": "08:00-22:00", "tue": "closed", "sat": "22:00-02:00", "sun": "24h"}
    chicago = dt.timezone(dt.timedelta(hours=-6))
    assert open_at(hours, dt.datetime(2026, 11, 23, 8, 0, tzinfo=chicago))       # Monday 08:00
    assert not open_at(hours, dt.datetime(2026, 11, 23, 7, 59, tzinfo=chicago))  # before
    assert not open_at(hours, dt.datetime(2026, 11, 23, 22, 0, tzinfo=chicago))  # closing time
    assert not open_at(hours, dt.datetime(2026, 11, 24, 12, 0, tzinfo=chicago))  # Tuesday closed
    assert open_at(hours, dt.datetime(2026, 11, 28, 23, 0, tzinfo=chicago))      # Saturday night
    assert open_at(hours, dt.datetime(2026, 11, 29, 1, 30, tzinfo=chicago))      # ...past midnight
    assert open_at(hours, dt.datetime(2026, 11, 29, 12, 0, tzinfo=chicago))      # Sunday 24h
    assert open_at(hours, dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc))  # 11:00 Chicago
    # Daylight saving: 13:00 UTC is 08:00 in Chicago in July (CDT) but 07:00 in January.
    assert open_at(hours, dt.datetime(2026, 7, 6, 13, 0, tzinfo=dt.timezone.utc))
    assert not open_at(hours, dt.datetime(2026, 1, 5, 13, 0, tzinfo=dt.timezone.utc))


def bot_inbound(bot: TestBot):  # type: ignore[no-untyped-def]
    from bot.core.messages import InboundMessage

    return InboundMessage("test", bot.user)


async def test_a_typed_number_or_menu_word_while_waiting_goes_to_staff(services: Services, bot: TestBot) -> None:
    """Staff ask "how many officers?" and the resident types "1" or "5": that is an answer
    for staff, not the "Main menu" button of the step the bot last showed."""
    await bot.say("/lang en")
    await bot.press_payload("main_menu:menu>@ice_at_door")
    await bot.press_payload("ice_at_door:ask_now>at_door")  # agents there: urgent ticket
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None
    # ask_signed has four answers; 5 and 6 are the "Main menu" and "Talk to a person" buttons.
    for typed in ("5", "6", "main menu", "talk to a person"):
        assert await bot.say(typed) == [], typed
    assert services.tickets.get(ticket.id).status == OPEN
    assert [m.text for m in services.tickets.messages(ticket.id)][-4:] == ["5", "6", "main menu",
                                                                         "talk to a person"]
    assert "administrative" in [r.step for r in await bot.say("no")]  # the bot's own question


async def test_only_where_someone_is_in_danger_is_urgent(services: Services, user: str) -> None:
    preparing = TestBot(services.conversation, user + "-prepare")
    await preparing.say("/lang en")
    await preparing.press_payload("main_menu:menu>@ice_at_door")
    await preparing.press_payload("ice_at_door:ask_now>prepare")  # agents are not there
    await preparing.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(preparing)))
    assert ticket is not None and (ticket.topic, ticket.priority) == ("ice_at_door", NORMAL)
    detained = TestBot(services.conversation, user + "-detained")
    await detained.say("/lang en")
    await detained.press_payload("main_menu:menu>@arrest_detention")
    await detained.say("/human")  # asked from an urgent flow
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(detained)))
    assert ticket is not None and (ticket.topic, ticket.priority) == ("arrest_detention", URGENT)
    assert ticket.path == ("main_menu/menu", "arrest_detention/who", "talk_to_person/hotline")


async def test_a_long_message_reaches_staff_whole(services: Services, bot: TestBot) -> None:
    await bot.say("/human")
    long = "They took my husband at 7am.\n" + "word " * 400  # about 2,000 characters
    await bot.say(long)
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and services.tickets.messages(ticket.id)[-1].text == long.strip()


async def test_asking_again_after_a_person_took_the_chat_gives_no_place_in_line(
        services: Services, bot: TestBot) -> None:
    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None
    services.tickets.claim(ticket.id, "ana")
    said = texts(await bot.say("/human"))
    assert services.renderer.text("en", "handoff.already_waiting") in said
    assert "in line" not in said


async def test_taps_and_photos_keep_whatsapps_window_open(services: Services, bot: TestBot) -> None:
    from bot.core.messages import InboundMessage

    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None
    before = services.tickets.get(ticket.id).last_inbound_at
    await services.conversation.handle(InboundMessage("test", bot.user, media="voice"))
    assert services.tickets.get(ticket.id).last_inbound_at > before  # type: ignore[operator]


async def test_the_whole_handoff_on_postgresql(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same services on PostgreSQL: open, wait, reply, close, resume (the service's SQL is
    tested on both databases in test_tickets.py; this is the conversation service's use of it)."""
    from tests.conftest import postgres_services

    with postgres_services(tmp_path) as pg:
        await handoff_round_trip(pg, tmp_path.name)


async def handoff_round_trip(services: Services, name: str) -> None:
    services.conversation.clock = lambda: HOTLINE_OPEN
    bot = TestBot(services.conversation, f"pg-{name}")
    await bot.say("/lang es")
    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and ticket.language == "es"
    await bot.say("estoy en la esquina de Cermak y Western")  # for staff (and the bot)
    channel = RecordingChannel("test")
    relay = Relay(services.tickets, services.residents, services.conversation, {"test": channel},
                  services.outbox)
    services.tickets.claim(ticket.id, "ana")
    assert (await relay.reply(ticket.id, "ana", "¿Está a salvo?"))[1] is None
    assert await relay.close(ticket.id, "ana", "resolved") is None
    await deliver_queued(services.outbox, relay.channels)
    assert channel.sent[0] == (bot.user, "¿Está a salvo?") and channel.messages[-1].flow == "main_menu"
    assert [m.text for m in services.tickets.messages(ticket.id)][:2] == [
        "estoy en la esquina de Cermak y Western", "¿Está a salvo?"]
    assert (await bot.say("la migra está en mi puerta"))[-1].flow != "system"


async def test_a_waiting_resident_who_reaches_danger_is_escalated(services: Services, bot: TestBot) -> None:
    await bot.say("/lang en")
    await bot.press_payload("main_menu:menu>@ice_at_door")  # "are they at your door now?"
    await bot.say("/human")  # asked before answering: not urgent yet
    ticket = services.tickets.open_for(services.conversation.resident(bot_inbound(bot)))
    assert ticket is not None and ticket.priority == NORMAL
    await bot.press_payload("ice_at_door:ask_now>at_door")  # yes, now
    assert services.tickets.get(ticket.id).priority == URGENT
    assert services.tickets.events(ticket.id)[-1] == ("escalated", "resident")


async def test_if_a_ticket_cannot_be_opened_the_rights_script_still_goes_out(
        services: Services, bot: TestBot, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(services.tickets, "open", broken)
    await bot.say("/lang en")
    await bot.press_payload("main_menu:menu>@ice_at_door")
    replies = await bot.press_payload("ice_at_door:ask_now>at_door")
    assert [r.step for r in replies] == ["at_door", "ask_signed"]  # guidance, no place in line


async def test_closing_keeps_the_address_if_they_asked_again_meanwhile(
        services: Services, bot: TestBot, monkeypatch: pytest.MonkeyPatch) -> None:
    await bot.say("/human")
    resident = services.conversation.resident(bot_inbound(bot))
    ticket = services.tickets.open_for(resident)
    assert ticket is not None
    services.tickets.claim(ticket.id, "ana")
    real_turn = services.conversation.system_turn

    async def asks_again_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        replies = await real_turn(*args, **kwargs)
        await bot.say("/human")  # while the closing message is on its way
        return replies

    monkeypatch.setattr(services.conversation, "system_turn", asks_again_meanwhile)
    await Relay(services.tickets, services.residents, services.conversation, {"test": RecordingChannel("test")},
                services.outbox).close(ticket.id, "ana", "resolved")
    assert services.tickets.open_for(resident) is not None
    assert services.residents.address(resident) == bot.user  # the new ticket can still be answered
