"""Photos and voice notes in the transcript, on SQLite and PostgreSQL: sealed at rest, kept
only while the ticket is open, gone with the transcript's text and at /delete; the
message id a typing indicator names is sealed too and goes when the ticket closes."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from bot.core.media import scrub_image
from bot.handoff.tickets import MEDIA, TicketError, TicketService, tickets as tickets_table
from bot.storage.db import make_engine
from bot.storage.schema import ticket_media, ticket_messages

PHOTO = scrub_image((Path(__file__).parents[1] / "channels" / "data" / "gps_exif.jpg").read_bytes())
VOICE = b"OggS\x00\x02" + b"voice-of-rosa" * 20
WAMID = "wamid.HBgLMTc3MzU1NTAxMTEVAgASGBQzQkJDMDlEQjM3MDE2MTQ0NjcyNQA="


@pytest.fixture
def service(database_url: str) -> Iterator[TicketService]:
    engine = make_engine(database_url)
    yield TicketService(engine, b"test-secret")
    engine.dispose()


def resident() -> str:
    return f"test-{uuid.uuid4().hex}"


def raw_rows(service: TicketService, ticket_id: int) -> bytes:
    """Every stored value of the ticket's media and transcript rows, as bytes."""
    out = b""
    with service.engine.connect() as connection:
        for table in (ticket_media, ticket_messages):
            for row in connection.execute(sa.select(table).where(table.c.ticket_id == ticket_id)):
                out += b" ".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                                 for v in row)
        ref = connection.execute(sa.select(tickets_table.c.reply_ref).where(
            tickets_table.c.id == ticket_id)).scalar()
    return out + (ref or "").encode()


def test_a_photo_and_a_voice_note_are_sealed_and_read_back(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "ice_at_door", "es")
    photo_line = service.add_media(ticket.id, "photo", "image/jpeg", PHOTO, "esto me dieron en Cicero")
    voice_line = service.add_media(ticket.id, "voice", "audio/ogg", VOICE)
    lines = service.messages(ticket.id)
    assert [(m.id, m.kind, m.author, m.text) for m in lines] == [
        (photo_line, MEDIA, "resident", "esto me dieron en Cicero"), (voice_line, MEDIA, "resident", "")]
    found = service.attachments(ticket.id)
    assert set(found) == {photo_line, voice_line}
    assert (found[photo_line].kind, found[photo_line].mime) == ("photo", "image/jpeg")
    opened = service.attachment(found[photo_line].id)
    assert opened is not None and opened[1] == PHOTO and opened[0].ticket_id == ticket.id
    assert service.attachment(found[voice_line].id)[1] == VOICE  # type: ignore[index]
    # At rest: neither the picture, the sound nor the caption in any column.
    raw = raw_rows(service, ticket.id)
    for plain in (PHOTO[:64], b"\xff\xd8\xff", b"OggS", b"voice-of-rosa", b"Cicero"):
        assert plain not in raw
    assert service.inbox("ana", [ticket.id])[ticket.id].unread == 2  # staff see something new
    assert service.events(ticket.id, MEDIA) == [(MEDIA, "resident"), (MEDIA, "resident")]


def test_nothing_is_kept_for_a_closed_ticket(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    service.close(ticket.id, "resident", "left")
    with pytest.raises(TicketError):
        service.add_media(ticket.id, "photo", "image/jpeg", PHOTO)
    assert service.attachments(ticket.id) == {} and service.messages(ticket.id) == []


def test_media_go_with_the_transcript_text_after_the_retention(service: TicketService) -> None:
    closed = service.open(resident(), "whatsapp", "legal_help", "en")
    service.add_media(closed.id, "photo", "image/jpeg", PHOTO, "old caption")
    service.close(closed.id, "resident", "left")
    still_open = service.open(resident(), "whatsapp", "legal_help", "en")
    kept = service.add_media(still_open.id, "voice", "audio/ogg", VOICE)
    assert service.purge_transcripts(dt.timedelta(hours=1)) == 0
    assert len(service.attachments(closed.id)) == 1  # closed just now: kept
    service.purge_transcripts(dt.timedelta(seconds=-1))
    assert service.attachments(closed.id) == {}
    with service.engine.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(ticket_media).where(
            ticket_media.c.ticket_id == closed.id)).scalar()
    assert left == 0  # the rows, not only their bytes
    assert [m.text for m in service.messages(closed.id)] == [None]  # the line stays, no caption
    assert set(service.attachments(still_open.id)) == {kept}


def test_erasing_the_resident_takes_their_media(service: TicketService) -> None:
    who = resident()
    ticket = service.open(who, "telegram", "legal_help", "en")
    service.add_media(ticket.id, "photo", "image/jpeg", PHOTO)
    [attachment] = service.attachments(ticket.id).values()
    assert service.attachment(attachment.id) is not None
    service.erase_resident(who)
    assert service.attachment(attachment.id) is None
    with service.engine.connect() as connection:
        assert connection.execute(sa.select(ticket_media.c.id).where(
            ticket_media.c.ticket_id == ticket.id)).first() is None


def test_a_changed_key_or_an_impossible_id_opens_nothing(service: TicketService) -> None:
    ticket = service.open(resident(), "telegram", "legal_help", "en")
    service.add_media(ticket.id, "photo", "image/jpeg", PHOTO)
    [attachment] = service.attachments(ticket.id).values()
    assert TicketService(service.engine, b"another-secret").attachment(attachment.id) is None
    assert service.attachment(10**30) is None and service.attachment(0) is None


def test_the_message_id_for_typing_is_sealed_and_goes_at_close(service: TicketService) -> None:
    ticket = service.open(resident(), "whatsapp", "legal_help", "en")
    assert service.reply_ref(ticket.id) is None
    service.remember_reply_ref(ticket.id, WAMID)
    assert service.reply_ref(ticket.id) == WAMID
    assert WAMID.encode() not in raw_rows(service, ticket.id)  # a wamid encodes the phone number
    service.close(ticket.id, "resident", "left")
    assert service.reply_ref(ticket.id) is None
    with service.engine.connect() as connection:
        assert connection.execute(sa.select(tickets_table.c.reply_ref).where(
            tickets_table.c.id == ticket.id)).scalar() is None
    service.remember_reply_ref(ticket.id, WAMID)  # too late: a closed ticket keeps none
    assert service.reply_ref(ticket.id) is None
