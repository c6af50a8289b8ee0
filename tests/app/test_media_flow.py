"""A photo or voice note through the conversation service (issue 16): kept for staff only
while a ticket is open, the photo without its metadata, sealed, gone at /delete; outside
a ticket the bot reads text only and offers a person for a photo; failures are told
briefly in the resident's language. And "typing…" from the console through the relay."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from PIL import Image

from bot.app.relay import Relay
from bot.app.services import Services
from bot.core import media as m
from bot.core.delivery import Capabilities
from bot.core.dialogue import HUMAN_PAYLOAD
from bot.core.messages import InboundMessage
from bot.storage.schema import ticket_media, ticket_messages
from bot.testing import TestBot
from tests.channels.recording import RecordingChannel

GPS_JPEG = (Path(__file__).parents[1] / "channels" / "data" / "gps_exif.jpg").read_bytes()
OGG = b"OggS\x00\x02" + b"opus-voice" * 50


@pytest.fixture
def channel(services: Services) -> Iterator[RecordingChannel]:
    """The test channel, able to fetch media and show typing, for this test only."""
    before = dict(services.channels)
    recording = RecordingChannel("test", capabilities=Capabilities(typing_indicator=True))
    recording.files = {"photo-1": m.Fetched(GPS_JPEG, "image/jpeg"),
                       "voice-1": m.Fetched(OGG, "audio/ogg"),
                       "m4a-1": m.Fetched(b"\x00\x00\x00\x20ftypM4A " + bytes(40), "audio/mp4"),
                       "big-1": m.Fetched(bytes(m.MAX_BYTES + 1), "image/jpeg"),
                       "gone-1": m.Unavailable("WhatsApp media lookup answered HTTP 404"),
                       "bug-1": RuntimeError("a channel bug")}
    services.channels = {**before, "test": recording}
    yield recording
    services.channels = before


def photo(user: str, ref: str, **meta: str) -> InboundMessage:
    return InboundMessage("test", user, media="photo", metadata={m.REF: ref, **meta})


async def waiting(services: Services, user: str, lang: str = "en") -> int:
    bot = TestBot(services.conversation, user)
    if lang != "en":
        await bot.say(f"/lang {lang}")
    await services.conversation.handle(InboundMessage("test", user, text="/human",
                                                      metadata={m.MESSAGE_ID: f"wamid.{user}"}))
    ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("test", user)))
    assert ticket is not None
    return ticket.id


def texts(replies: list) -> list[str]:  # type: ignore[type-arg]
    return [r.text for r in replies]


async def test_a_photo_while_waiting_reaches_staff_without_its_metadata_sealed(
        services: Services, channel: RecordingChannel) -> None:
    ticket_id = await waiting(services, "media-photo", "es")
    replies = await services.conversation.handle(
        photo("media-photo", "photo-1", **{m.CAPTION: "me dieron esto en Cicero"}))
    assert texts(replies) == [services.renderer.text("es", "handoff.media_kept")]
    assert channel.fetched == ["photo-1"]
    [attachment] = services.tickets.attachments(ticket_id).values()
    _, data = services.tickets.attachment(attachment.id)  # type: ignore[misc]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (240, 320) and len(image.getexif()) == 0
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    line = next(x for x in services.tickets.messages(ticket_id) if x.id == attachment.message_id)
    assert line.text == "me dieron esto en Cicero"
    with services.db.connect() as connection:
        raw = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                       for t in (ticket_media, ticket_messages)
                       for row in connection.execute(sa.select(t).where(t.c.ticket_id == ticket_id))
                       for v in row)
    assert b"\xff\xd8\xff" not in raw and b"Cicero" not in raw
    # A second photo a minute later: kept, and no second "received" message.
    assert await services.conversation.handle(photo("media-photo", "photo-1")) == []
    assert len(services.tickets.attachments(ticket_id)) == 2
    # /delete takes the photos with everything else.
    bot = TestBot(services.conversation, "media-photo")
    await bot.say("/delete")
    await bot.press("Sí, borrar")  # the ticket is in Spanish
    with services.db.connect() as connection:
        assert connection.execute(sa.select(ticket_media.c.id).where(
            ticket_media.c.ticket_id == ticket_id)).first() is None


async def test_a_voice_note_is_kept_as_it_is(services: Services, channel: RecordingChannel) -> None:
    ticket_id = await waiting(services, "media-voice")
    replies = await services.conversation.handle(InboundMessage(
        "test", "media-voice", media="voice", metadata={m.REF: "voice-1", m.MIME: "audio/ogg"}))
    assert texts(replies) == [services.renderer.text("en", "handoff.media_kept")]
    [attachment] = services.tickets.attachments(ticket_id).values()
    assert (attachment.kind, attachment.mime) == ("voice", "audio/ogg")
    assert services.tickets.attachment(attachment.id)[1] == OGG  # type: ignore[index]


@pytest.mark.parametrize("ref, meta, key, fetched", [
    ("big-1", {}, "handoff.media_too_large", True),  # over the limit while fetching
    ("photo-1", {m.SIZE: str(m.MAX_BYTES + 1)}, "handoff.media_too_large", False),  # declared
    ("gone-1", {}, "handoff.media_failed", True),
    ("bug-1", {}, "handoff.media_failed", True),  # a bug in the channel: still answered
])
async def test_failures_are_told_briefly_and_noted_for_staff(
        services: Services, channel: RecordingChannel, ref: str, meta: dict[str, str], key: str,
        fetched: bool) -> None:
    user = f"media-fail-{ref}-{len(meta)}"
    ticket_id = await waiting(services, user, "es")
    replies = await services.conversation.handle(photo(user, ref, **meta))
    assert texts(replies) == [services.renderer.text("es", key)]
    assert (channel.fetched == [ref]) is fetched
    assert services.tickets.attachments(ticket_id) == {}
    notes = [x.text or "" for x in services.tickets.messages(ticket_id) if x.kind == "system"]
    assert any("photo" in n and "could not be kept" in n for n in notes)


async def test_audio_that_can_carry_location_tags_is_not_kept(
        services: Services, channel: RecordingChannel) -> None:
    ticket_id = await waiting(services, "media-m4a")
    replies = await services.conversation.handle(InboundMessage(
        "test", "media-m4a", media="audio", metadata={m.REF: "m4a-1"}))
    assert texts(replies) == [services.renderer.text("en", "handoff.media_failed")]
    assert services.tickets.attachments(ticket_id) == {}


async def test_outside_a_ticket_a_photo_is_not_fetched_and_a_person_is_offered(
        services: Services, channel: RecordingChannel) -> None:
    replies = await services.conversation.handle(photo("media-outside", "photo-1"))
    assert channel.fetched == []
    assert replies[-1].text == services.renderer.text("en", "handoff.photo_text_only")
    assert HUMAN_PAYLOAD in [b.payload for b in replies[-1].buttons]
    voice = await services.conversation.handle(InboundMessage(
        "test", "media-outside", media="voice", metadata={m.REF: "voice-1"}))
    assert voice[-1].text == services.renderer.text("en", "ui.text_only") and channel.fetched == []


async def test_typing_reaches_the_resident_only_from_the_assignee_while_open(
        services: Services, channel: RecordingChannel) -> None:
    ticket_id = await waiting(services, "media-typing")
    relay = services.relay
    assert await relay.typing(ticket_id, "ana") is False  # not claimed yet
    services.tickets.claim(ticket_id, "ana")
    assert await relay.typing(ticket_id, "luis") is False  # not theirs
    assert await relay.typing(ticket_id, "ana") is True
    assert channel.typed == [("media-typing", "wamid.media-typing")]  # the last inbound id
    plain = RecordingChannel("test")  # a platform without an indicator: nothing is sent
    assert await Relay(services.tickets, services.residents, services.conversation,
                       {"test": plain}, services.outbox).typing(ticket_id, "ana") is False \
        and plain.typed == []
    await relay.close(ticket_id, "ana", "resolved")
    assert await relay.typing(ticket_id, "ana") is False and len(channel.typed) == 1
    assert services.tickets.reply_ref(ticket_id) is None


async def test_through_the_inbox_the_reference_reaches_the_turn(
        services: Services, channel: RecordingChannel) -> None:
    """The server's path: the edge keeps the reference in the (sealed) inbox body; the
    worker's turn hands it to the conversation, which has the channel fetch it."""
    from bot.app.inbox import Taken
    from bot.app.turns import EngineTurns

    ticket_id = await waiting(services, "media-inbox")
    row = Taken(1, "test", "conv", "message", {"user": "media-inbox", "to": "media-inbox",
                                               "media": "photo", "meta": {m.REF: "photo-1"}},
                1, "lease")
    drafts = await EngineTurns(services)(row)
    assert channel.fetched == ["photo-1"] and len(services.tickets.attachments(ticket_id)) == 1
    assert drafts and drafts[0].item["message"]["text"] == services.renderer.text("en", "handoff.media_kept")
