"""The console's photos, voice notes and typing indicator (issue 16): served only to a
signed-in person who opened the ticket, never cached, audited once per visit and item;
"typing…" from the reply box, at most every few seconds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.app.services import Services
from bot.core import media as m
from bot.core.delivery import Capabilities
from bot.core.messages import InboundMessage
from bot.storage.schema import audit_log
from tests.channels.recording import RecordingChannel
from tests.web.conftest import Login, csrf_of
from tests.web.test_console import resident_asks

GPS_JPEG = (Path(__file__).parents[1] / "channels" / "data" / "gps_exif.jpg").read_bytes()
OGG = b"OggS\x00\x02" + b"opus" * 100


@pytest.fixture
def channel() -> RecordingChannel:
    """The console's test channel, here with a typing indicator and two files."""
    recording = RecordingChannel("test", capabilities=Capabilities(typing_indicator=True))
    recording.files = {"p": m.Fetched(GPS_JPEG, "image/jpeg"), "v": m.Fetched(OGG, "audio/ogg")}
    return recording


async def test_the_transcript_shows_the_photo_and_a_player_served_only_after_opening(
        app, services: Services, login: Login, channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "console-media")
    await services.conversation.handle(InboundMessage("test", "console-media", media="photo",
                                                      metadata={m.REF: "p", m.CAPTION: "la orden"}))
    await services.conversation.handle(InboundMessage("test", "console-media", media="voice",
                                                      metadata={m.REF: "v"}))
    photo, voice = sorted(services.tickets.attachments(ticket_id).values(), key=lambda a: a.id)
    client = await login()
    early = await client.get(f"/staff/media/{photo.id}")
    assert early.status_code == 403  # the ticket's page first: its opening is audited
    html = (await client.get(f"/staff/tickets/{ticket_id}")).text
    assert f'<img src="/staff/media/{photo.id}"' in html and "la orden" in html
    assert f'<audio controls preload="none" src="/staff/media/{voice.id}"' in html
    served = await client.get(f"/staff/media/{photo.id}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert b"Exif" not in served.content and served.content[:3] == b"\xff\xd8\xff"
    assert (await client.get(f"/staff/media/{photo.id}")).status_code == 200  # a live refresh
    played = await client.get(f"/staff/media/{voice.id}")
    assert played.content == OGG and played.headers["content-type"] == "audio/ogg"
    with services.db.connect() as connection:
        rows = connection.execute(sa.select(audit_log.c.detail).where(
            audit_log.c.ticket_id == ticket_id, audit_log.c.action == "viewed media")).scalars().all()
    assert sorted(rows) == [f"photo {photo.id}", f"voice {voice.id}"]  # once each, not per fetch
    assert (await client.get("/staff/media/999999999")).status_code == 404
    assert (await client.get(f"/staff/media/{10**30}")).status_code == 404
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
    assert (await anonymous.get(f"/staff/media/{photo.id}")).status_code in (303, 401)
    await anonymous.aclose()
    # Purged with the transcript: gone from the route, the transcript says so.
    services.tickets.close(ticket_id, "resident", "left")
    with services.db.begin() as connection:
        connection.execute(sa.text("UPDATE kyr_tickets SET closed_at = :t WHERE id = :i"),
                           {"t": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), "i": ticket_id})
    services.tickets.purge_transcripts(dt.timedelta(hours=1))
    assert (await client.get(f"/staff/media/{photo.id}")).status_code == 404
    assert "deleted after the retention period" in (await client.get(f"/staff/tickets/{ticket_id}")).text


async def test_typing_in_the_reply_box_shows_typing_to_the_resident_at_most_every_4_s(
        app, services: Services, login: Login, channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    ticket_id = await resident_asks(services, "console-typing")
    client = await login()
    page = f"/staff/tickets/{ticket_id}"
    csrf = csrf_of((await client.get(page)).text)
    headers = {"X-Console": "fetch"}
    refused = await client.post(f"{page}/typing", data={"csrf": "wrong"}, headers=headers)
    assert refused.status_code == 403
    unclaimed = await client.post(f"{page}/typing", data={"csrf": csrf}, headers=headers)
    assert unclaimed.json() == {"ok": True, "shown": False} and channel.typed == []
    await client.post(f"{page}/claim", data={"csrf": csrf})
    shown = await client.post(f"{page}/typing", data={"csrf": csrf}, headers=headers)
    assert shown.json() == {"ok": True, "shown": True}
    assert channel.typed == [("console-typing", None)]  # no message id on the test platform
    again = await client.post(f"{page}/typing", data={"csrf": csrf}, headers=headers)
    assert again.json()["shown"] is False and len(channel.typed) == 1  # within 4 s
    js = (await client.get("/staff/static/console.js")).text
    assert "/typing" in js and "4000" in js


async def test_a_photo_whose_key_is_gone_reads_as_unreadable_not_as_a_broken_picture(
        app, services: Services, login: Login, channel: RecordingChannel) -> None:  # type: ignore[no-untyped-def]
    """Sealed with the resident's data key (issue 12): without it the route has nothing to
    serve and the transcript says so as it does for a line it cannot open."""
    ticket_id = await resident_asks(services, "console-shredded")
    await services.conversation.handle(InboundMessage("test", "console-shredded", media="photo",
                                                      metadata={m.REF: "p", m.CAPTION: "mi contrato"}))
    [photo] = services.tickets.attachments(ticket_id).values()
    client = await login()
    assert "mi contrato" in (await client.get(f"/staff/tickets/{ticket_id}")).text
    assert (await client.get(f"/staff/media/{photo.id}")).status_code == 200
    with services.db.begin() as connection:  # as a copy of the tables restored without the key
        services.tickets.keys.destroy(connection, [services.tickets.get(ticket_id).resident])
    assert (await client.get(f"/staff/media/{photo.id}")).status_code == 404
    html = (await client.get(f"/staff/tickets/{ticket_id}")).text
    assert f'src="/staff/media/{photo.id}"' not in html and "mi contrato" not in html
    assert "unreadable after a change of KYR_SECRET_KEY" in html
