"""Crypto-shredding: after /delete and the retention purge, the raw transcript rows, photos,
voice notes and typing indicator's message id read before the erasure cannot be opened any
more (their resident's key is gone), on SQLite and PostgreSQL: a copy left in the files (WAL,
free pages, dead row versions, a backup) is noise, even to someone who also holds
KYR_SECRET_KEY."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from bot.handoff.tickets import MEDIA, REF_MARK, TicketError, TicketService
from bot.storage.addresses import sealer
from bot.storage.db import make_engine, utc_now
from bot.storage.schema import data_keys, ticket_media, ticket_messages, tickets

SECRET = b"shred-secret"
PHOTO = b"\xff\xd8\xff\xe0 a photo of the eviction notice, 2614 W 26th St"
WAMID = "wamid.HBgLMTc3MzU1NTAxMTEVAgASGBQzQkJDMDlEQjM3MDE2MTQ0NjcyNQA="  # holds 17735550111
BOT = Path(__file__).parents[2] / "bot"


@pytest.fixture
def service(database_url: str) -> Iterator[TicketService]:
    engine = make_engine(database_url)
    yield TicketService(engine, SECRET)
    engine.dispose()


def raw_lines(service: TicketService, ticket_id: int) -> list[str]:
    """The stored bytes, as someone with a copy of the database file would have them."""
    with service.engine.connect() as connection:
        return [r.sealed for r in connection.execute(sa.select(ticket_messages.c.sealed).where(
            ticket_messages.c.ticket_id == ticket_id)) if r.sealed is not None]


def raw_media(service: TicketService, ticket_id: int) -> list[bytes]:
    with service.engine.connect() as connection:
        return [bytes(s) for s in connection.execute(sa.select(ticket_media.c.sealed).where(
            ticket_media.c.ticket_id == ticket_id)).scalars()]


def raw_reply_ref(service: TicketService, ticket_id: int) -> str | None:
    with service.engine.connect() as connection:
        return connection.execute(sa.select(tickets.c.reply_ref).where(
            tickets.c.id == ticket_id)).scalar()


def keys_derived_from_the_master_secret() -> list[Fernet]:
    """Every purpose's key the code derives from KYR_SECRET_KEY (found in bot/, so a new
    one is tried too): the legacy transcript and media keys among them."""
    purposes = {b"kyr-addresses-v1"}  # sealer's default
    for source in BOT.rglob("*.py"):
        purposes.update(p.encode() for p in re.findall(r'sealer\([^()]*?b"([^"]+)"\)', source.read_text()))
    assert {b"kyr-transcripts-v1", b"kyr-ticket-media-v1", b"kyr-data-keys-v1"} <= purposes
    return [sealer(SECRET, p) for p in sorted(purposes)]


def every_key_an_attacker_with_the_master_secret_could_make(service: TicketService) -> list[Fernet]:
    """Every key derived from the master secret, and every data key still in the table."""
    master = sealer(SECRET, b"kyr-data-keys-v1")
    keys = []
    with service.engine.connect() as connection:
        for sealed in connection.execute(sa.select(data_keys.c.sealed)).scalars():
            try:
                keys.append(Fernet(master.decrypt(sealed.encode())))
            except InvalidToken:  # another test's secret (a shared PostgreSQL database)
                continue
    return [*keys_derived_from_the_master_secret(), *keys]


def readable(sealed: str | bytes, keys: list[Fernet]) -> bool:
    for key in keys:
        try:
            key.decrypt(sealed.encode() if isinstance(sealed, str) else sealed)
            return True
        except InvalidToken:
            continue
    return False


def test_erasure_destroys_the_key_so_copied_rows_are_noise(service: TicketService) -> None:
    who, other = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "telegram", "legal_help", "es")
    service.add_message(ticket.id, "resident", "resident", "me llamo Rosa, vivo en la 26")
    service.add_message(ticket.id, "staff:ana", "reply", "Rosa, ¿está a salvo?")
    kept = service.open(other, "telegram", "legal_help", "en")
    service.add_message(kept.id, "resident", "resident", "someone else's words")
    copied = raw_lines(service, ticket.id)  # a copy of the file, taken before the erasure
    assert len(copied) == 2 and all(readable(s, every_key_an_attacker_with_the_master_secret_could_make(service))
                                    for s in copied)
    assert not readable(copied[0], [sealer(SECRET, b"kyr-transcripts-v1")])  # not the master's key
    service.erase_resident(who)
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert not any(readable(s, keys) for s in copied)  # even with KYR_SECRET_KEY: noise
    assert [m.text for m in service.messages(kept.id)] == ["someone else's words"]


def test_the_purge_destroys_the_key_of_a_resident_with_no_ticket_left(service: TicketService) -> None:
    gone, back = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    old = service.open(gone, "telegram", "legal_help", "en")
    service.add_message(old.id, "resident", "resident", "old words of a resident who left")
    service.close(old.id, "resident", "left")
    first = service.open(back, "telegram", "legal_help", "en")
    service.add_message(first.id, "resident", "resident", "first visit")
    service.close(first.id, "resident", "left")
    copied_old, copied_first = raw_lines(service, old.id), raw_lines(service, first.id)
    service.purge_transcripts(dt.timedelta(seconds=-1))  # both closed tickets are past it
    newer = service.open(back, "telegram", "legal_help", "en")  # came back after the purge
    service.add_message(newer.id, "resident", "resident", "second visit")
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert not readable(copied_old[0], keys) and not readable(copied_first[0], keys)
    assert [m.text for m in service.messages(newer.id)] == ["second visit"]  # a new key


def test_erasure_makes_copied_photos_and_their_captions_noise(service: TicketService) -> None:
    who, other = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "whatsapp", "eviction", "es")
    line = service.add_media(ticket.id, "photo", "image/jpeg", PHOTO, caption="la orden de desalojo")
    kept = service.open(other, "whatsapp", "eviction", "en")
    service.add_media(kept.id, "voice", "audio/ogg", b"OggS someone else's voice")
    photo = service.attachments(ticket.id)[line]
    opened = service.attachment(photo.id)
    assert opened is not None and opened[1] == PHOTO  # read back with the resident's key
    [copied] = raw_media(service, ticket.id)  # a copy of the file, taken before the erasure
    [caption] = raw_lines(service, ticket.id)
    assert readable(copied, every_key_an_attacker_with_the_master_secret_could_make(service))
    master_only = keys_derived_from_the_master_secret()
    assert not readable(copied, master_only) and not readable(caption, master_only)
    service.erase_resident(who)
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert not readable(copied, keys) and not readable(caption, keys)  # even with KYR_SECRET_KEY
    [voice] = service.attachments(kept.id).values()
    assert service.attachment(voice.id) == (voice, b"OggS someone else's voice")


def test_the_purge_makes_copied_photos_noise(service: TicketService) -> None:
    who = f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "telegram", "eviction", "en")
    service.add_media(ticket.id, "photo", "image/jpeg", PHOTO)
    service.close(ticket.id, "resident", "left")
    [copied] = raw_media(service, ticket.id)
    service.purge_transcripts(dt.timedelta(seconds=-1))
    assert raw_media(service, ticket.id) == []
    assert not readable(copied, every_key_an_attacker_with_the_master_secret_could_make(service))


def test_a_photo_whose_key_is_gone_is_not_available_like_its_line(service: TicketService) -> None:
    """A row left behind its key (a restored copy of the table, say): nothing opens it, and
    the legacy key is not tried on a row sealed with a resident's key."""
    who = f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "telegram", "eviction", "en")
    line = service.add_media(ticket.id, "photo", "image/jpeg", PHOTO, caption="my lease")
    photo = service.attachments(ticket.id)[line]
    with service.engine.begin() as connection:
        service.keys.destroy(connection, [who])
    assert service.attachment(photo.id) is None
    assert [m.text for m in service.messages(ticket.id)] == [None]
    with service.engine.begin() as connection:  # the legacy key's token, not marked legacy
        connection.execute(sa.update(ticket_media).where(ticket_media.c.id == photo.id).values(
            sealed=service.media_fernet.encrypt(PHOTO)))
    assert service.attachment(photo.id) is None


def test_a_photo_stored_with_the_legacy_key_and_marked_so_is_still_read(service: TicketService) -> None:
    ticket = service.open(f"r-{uuid.uuid4().hex}", "telegram", "eviction", "en")
    with service.engine.begin() as connection:  # as add_media wrote it before migration 0010
        line = connection.execute(sa.insert(ticket_messages).values(
            ticket_id=ticket.id, author="resident", kind=MEDIA, at=utc_now(),
            sealed=service.fernet.encrypt(b"old caption").decode())).inserted_primary_key[0]
        media_id = connection.execute(sa.insert(ticket_media).values(  # sealed_with: the default
            ticket_id=ticket.id, message_id=line, kind="photo", mime="image/jpeg",
            sealed=service.media_fernet.encrypt(PHOTO), created_at=utc_now())).inserted_primary_key[0]
    found = service.attachment(media_id)
    assert found is not None and found[1] == PHOTO
    assert [m.text for m in service.messages(ticket.id)] == ["old caption"]


def test_no_photo_is_kept_when_the_residents_key_cannot_be_opened(database_url: str) -> None:
    engine = make_engine(database_url)
    who = f"r-{uuid.uuid4().hex}"
    ticket = TicketService(engine, SECRET).open(who, "telegram", "eviction", "en")
    TicketService(engine, SECRET).add_message(ticket.id, "resident", "resident", "hi")
    changed = TicketService(engine, b"another-secret")  # KYR_SECRET_KEY changed since
    with pytest.raises(TicketError):
        changed.add_media(ticket.id, "photo", "image/jpeg", PHOTO)
    assert raw_media(changed, ticket.id) == []
    engine.dispose()


def test_erasure_makes_a_copied_message_id_for_typing_noise(service: TicketService) -> None:
    """The WhatsApp message id a typing indicator names encodes the resident's number."""
    who, other = f"r-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    ticket = service.open(who, "whatsapp", "eviction", "es")
    service.remember_reply_ref(ticket.id, WAMID)
    kept = service.open(other, "whatsapp", "eviction", "en")
    service.remember_reply_ref(kept.id, "wamid.someone-else")
    assert service.reply_ref(ticket.id) == WAMID
    copied = raw_reply_ref(service, ticket.id)  # a copy of the file, taken before the erasure
    assert copied is not None
    token = copied.removeprefix(REF_MARK)
    assert readable(token, every_key_an_attacker_with_the_master_secret_could_make(service))
    assert not readable(token, keys_derived_from_the_master_secret())
    service.erase_resident(who)
    assert not readable(token, every_key_an_attacker_with_the_master_secret_could_make(service))
    assert service.reply_ref(kept.id) == "wamid.someone-else"


def test_the_purge_makes_a_copied_message_id_for_typing_noise(service: TicketService) -> None:
    ticket = service.open(f"r-{uuid.uuid4().hex}", "whatsapp", "eviction", "en")
    service.remember_reply_ref(ticket.id, WAMID)
    copied = raw_reply_ref(service, ticket.id) or ""
    service.close(ticket.id, "resident", "left")  # the value goes; its copies stay
    service.purge_transcripts(dt.timedelta(seconds=-1))
    keys = every_key_an_attacker_with_the_master_secret_could_make(service)
    assert copied and not readable(copied.removeprefix(REF_MARK), keys)


def test_a_message_id_stored_with_the_legacy_key_is_still_read_while_open(
        service: TicketService) -> None:
    """Written before reply_ref had the resident's key: no mark, the old transcript key."""
    ticket = service.open(f"r-{uuid.uuid4().hex}", "whatsapp", "eviction", "en")
    with service.engine.begin() as connection:
        connection.execute(sa.update(tickets).where(tickets.c.id == ticket.id).values(
            reply_ref=service.fernet.encrypt(WAMID.encode()).decode()))
    assert service.reply_ref(ticket.id) == WAMID
    service.remember_reply_ref(ticket.id, "wamid.newer")  # the next message: the new key
    assert service.reply_ref(ticket.id) == "wamid.newer"
    assert (raw_reply_ref(service, ticket.id) or "").startswith(REF_MARK)


def test_the_legacy_key_opens_no_marked_message_id(service: TicketService) -> None:
    """A marked value is opened with the resident's key only: not even a legacy token."""
    ticket = service.open(f"r-{uuid.uuid4().hex}", "whatsapp", "eviction", "en")
    with service.engine.begin() as connection:
        connection.execute(sa.update(tickets).where(tickets.c.id == ticket.id).values(
            reply_ref=REF_MARK + service.fernet.encrypt(WAMID.encode()).decode()))
    assert service.reply_ref(ticket.id) is None


def test_no_message_id_is_kept_when_the_residents_key_cannot_be_opened(database_url: str) -> None:
    engine = make_engine(database_url)
    who = f"r-{uuid.uuid4().hex}"
    before = TicketService(engine, SECRET)
    ticket = before.open(who, "whatsapp", "eviction", "en")
    before.remember_reply_ref(ticket.id, "wamid.older")
    changed = TicketService(engine, b"another-secret")  # KYR_SECRET_KEY changed since
    assert changed.reply_ref(ticket.id) is None
    changed.remember_reply_ref(ticket.id, WAMID)
    assert raw_reply_ref(changed, ticket.id) is None  # nothing, not even the older id
    assert changed.reply_ref(ticket.id) is None
    engine.dispose()
