"""Photos and voice notes (issue 16): parsed from recorded payloads, fetched by each
channel within the size limit through offline doubles (httpx.MockTransport, the Bot API
test server on 127.0.0.1), and photos scrubbed of every metadata block."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
import pytest
from PIL import Image
from PIL.ExifTags import IFD

from bot.channels.base import ChannelContext
from bot.channels.http import download
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.parse import media_of as telegram_media, parse_update
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.channels.whatsapp.parse import parse_message, values
from bot.core import media as m
from bot.web import edge
from tests.channels.fake_telegram import FakeBotAPI
from tests.conftest import platform_fixtures

DATA = Path(__file__).with_name("data")
GPS_JPEG = DATA / "gps_exif.jpg"  # 320x240, EXIF GPS + camera + orientation 6, ICC, XMP, comment
TOKEN = "123456:TEST-token"


def load(platform: str, name: str) -> Any:
    return json.loads((platform_fixtures(platform) / name).read_text(encoding="utf-8"))


def local(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def whatsapp_message(name: str) -> dict[str, Any]:
    [message] = [msg for v in values(load("whatsapp", name)) for msg in v.get("messages") or []]
    return message


# ---- parsing: pure, on the recorded payloads ----

def test_a_telegram_photo_names_its_largest_size_within_the_limit_and_keeps_the_caption() -> None:
    parsed = parse_update(load("telegram", "photo.json"))
    assert parsed.inbound is not None and parsed.inbound.media == "photo"
    assert parsed.inbound.text is None  # the caption is not a message to the bot
    assert parsed.inbound.metadata == {m.REF: "AgACAgEAAxkBAAIBQ2Vtest2", m.MIME: "image/jpeg",
                                       m.SIZE: "45678", m.CAPTION: "esto es lo que me dieron"}
    message = load("telegram", "photo.json")["message"]
    assert telegram_media(message, limit=10_000)[1][m.REF] == "AgACAgEAAxkBAAIBQ2Vtest1"
    # Nothing within the limit: the smallest, whose fetch then says it is too large.
    assert telegram_media(message, limit=100)[1][m.REF] == "AgACAgEAAxkBAAIBQ2Vtest1"


def test_telegram_voice_audio_and_an_image_sent_as_a_file() -> None:
    voice = parse_update(load("telegram", "voice.json")).inbound
    assert voice is not None and voice.media == "voice"
    assert voice.metadata == {m.REF: "AwACAgEAAxkBAAIBRGVvoice", m.MIME: "audio/ogg", m.SIZE: "9012"}
    document = parse_update(local("telegram_document_image.json")).inbound
    assert document is not None and document.media == "photo"  # full resolution, EXIF and all
    assert document.metadata[m.REF] == "BQACAgEAAxkBAAIBRWVdocimg" and \
        document.metadata[m.MIME] == "image/jpeg" and document.metadata[m.SIZE] == "2345678"
    audio = parse_update(local("telegram_audio.json")).inbound
    assert audio is not None and audio.media == "audio" and audio.metadata[m.MIME] == "audio/mpeg"
    pdf = local("telegram_document_image.json")
    pdf["message"]["document"]["mime_type"] = "application/pdf"
    other = parse_update(pdf).inbound
    assert other is not None and other.media == "document" and other.metadata == {}


def test_whatsapp_image_and_voice_note_carry_their_media_ids() -> None:
    image = parse_message(whatsapp_message("image.json"))
    assert image is not None and image.media == "photo" and image.text is None
    assert image.metadata == {
        m.MESSAGE_ID: "wamid.HBgLMTc3MzU1NTAxMTEVAgASGBQzQkJDMDlEQjM3MDE2MTQ0NjcyNQA=",
        m.REF: "1037543291543636", m.MIME: "image/jpeg", m.CAPTION: "هذه الورقة"}
    voice = parse_message(whatsapp_message("audio.json"))
    assert voice is not None and voice.media == "voice"
    assert voice.metadata[m.REF] == "1498427540727315" and voice.metadata[m.MIME].startswith("audio/ogg")
    music = whatsapp_message("audio.json")
    music["audio"].pop("voice")
    assert parse_message(music).media == "audio"  # type: ignore[union-attr]
    location = parse_message(whatsapp_message("location.json"))
    assert location is not None and location.media == "location" and m.REF not in location.metadata
    text = parse_message(whatsapp_message("text_ar.json"))
    assert text is not None and text.metadata[m.MESSAGE_ID].startswith("wamid.")


def test_the_edge_keeps_the_references_in_the_sealed_inbox_body() -> None:
    [photo] = edge.parse_telegram(load("telegram", "photo.json")).envelopes
    assert photo.body["media"] == "photo" and photo.body["meta"][m.REF] == "AgACAgEAAxkBAAIBQ2Vtest2"
    [voice] = edge.parse_whatsapp(load("whatsapp", "audio.json")).envelopes
    assert voice.body["media"] == "voice" and voice.body["meta"][m.REF] == "1498427540727315"
    [text] = edge.parse_whatsapp(load("whatsapp", "text_ar.json")).envelopes
    assert text.body["meta"][m.MESSAGE_ID] == text.platform_id  # for a typing indicator


# ---- scrubbing: the photo staff see says nothing of where it was taken ----

def segments(jpeg: bytes) -> list[int]:
    """The JPEG's marker segments up to the image data (APPn, COM, DQT...)."""
    found, i = [], 2
    assert jpeg[:2] == b"\xff\xd8"
    while i < len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        found.append(marker)
        if marker == 0xDA:  # start of scan: the pixels follow
            break
        i += 2 + int.from_bytes(jpeg[i + 2:i + 4], "big")
    return found


def test_the_fixture_has_what_must_go() -> None:
    with Image.open(GPS_JPEG) as original:
        assert original.getexif().get_ifd(IFD.GPSInfo)  # latitude, longitude, altitude
        assert {"exif", "icc_profile", "xmp", "comment"} <= set(original.info)
    raw = GPS_JPEG.read_bytes()
    assert 0xE1 in segments(raw) and 0xE2 in segments(raw) and 0xFE in segments(raw)


def test_a_scrubbed_photo_has_no_exif_gps_icc_xmp_or_comment_and_stays_upright() -> None:
    clean = m.scrub_image(GPS_JPEG.read_bytes())
    with Image.open(io.BytesIO(clean)) as image:
        assert image.format == "JPEG" and image.size == (240, 320)  # orientation 6 applied
        assert len(image.getexif()) == 0 and not image.getexif().get_ifd(IFD.GPSInfo)
        assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
    # Only JFIF's APP0 before the pixels: no APP1 (EXIF, XMP), APP2 (ICC), APP13 (IPTC), COM.
    kinds = segments(clean)
    assert [k for k in kinds if 0xE0 <= k <= 0xEF or k == 0xFE] == [0xE0]
    for leak in (b"Exif", b"TestPhone", b"Cicero", b"xmpmeta", b"ICC_PROFILE"):
        assert leak not in clean


def test_pngs_are_scrubbed_too_and_garbage_or_bombs_are_refused() -> None:
    png = io.BytesIO()
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(png, "PNG", exif=b"Exif\x00\x00MM\x00*")
    assert m.scrub_image(png.getvalue())[:3] == b"\xff\xd8\xff"
    with pytest.raises(m.Unreadable):
        m.scrub_image(b"<html>not an image</html>")
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 Mpx in a few KB
    with pytest.raises(m.Unreadable):
        m.scrub_image(bomb.getvalue())


def test_voice_notes_are_kept_as_they_are_only_in_ogg() -> None:
    ogg = b"OggS\x00\x02" + bytes(200)
    kept = m.keep(m.VOICE, m.Fetched(ogg, "audio/ogg"))
    assert (kept.mime, kept.data) == ("audio/ogg", ogg)
    with pytest.raises(m.Unreadable):  # an M4A can carry a ©xyz location atom
        m.keep(m.AUDIO, m.Fetched(b"\x00\x00\x00\x20ftypM4A " + bytes(50), "audio/mp4"))
    with pytest.raises(m.Unreadable):
        m.keep("sticker", m.Fetched(b"x", ""))


# ---- the bounded download ----

def client(handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


class Endless(httpx.AsyncByteStream):
    """A body that never declares its size and never ends (counts what was read)."""

    def __init__(self) -> None:
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.read += 65536
            yield bytes(65536)


async def test_download_refuses_a_declared_size_and_cuts_off_a_stream_over_the_limit() -> None:
    seen: list[httpx.Request] = []
    async with client(lambda r: httpx.Response(200, headers={"content-length": str(10**9)},
                                               content=b""), seen) as http:
        with pytest.raises(m.TooLarge):
            await download(http, "https://files.example/a", 1000)
    endless = Endless()
    async with client(lambda r: httpx.Response(200, stream=endless), seen) as http:
        with pytest.raises(m.TooLarge):
            await download(http, "https://files.example/b", 300_000)
    assert endless.read <= 300_000 + 65536  # stopped at the limit, not at the end
    async with client(lambda r: httpx.Response(404), seen) as http:
        with pytest.raises(m.Unavailable):
            await download(http, "https://files.example/c", 1000)
    async with client(lambda r: httpx.Response(200, content=b"12345"), seen) as http:
        assert await download(http, "https://files.example/d", 1000) == b"12345"


# ---- the channels ----

@pytest.fixture
def context(tmp_path: Path) -> ChannelContext:
    async def handle(inbound: Any) -> list[Any]:
        return []

    from bot.storage.db import make_engine
    db = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    return ChannelContext(handle, None, db, b"test-secret")  # type: ignore[arg-type]


def telegram_files(file_size: int | None, body: bytes = b"\xff\xd8\xffphoto") -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getFile"):
            result: dict[str, Any] = {"file_id": "AgAC", "file_unique_id": "u", "file_path": "photos/file_7.jpg"}
            if file_size is not None:
                result["file_size"] = file_size
            return httpx.Response(200, json={"ok": True, "result": result})
        return httpx.Response(200, content=body)
    return handler


async def test_telegram_fetches_with_getfile_then_the_file_url(context: ChannelContext) -> None:
    channel = TelegramChannel(context, TOKEN, "http://bot-api.test/bot")
    seen: list[httpx.Request] = []
    channel.http = client(telegram_files(45678), seen)
    fetched = await channel.fetch_media("AgAC")
    assert fetched.data == b"\xff\xd8\xffphoto"
    assert [str(r.url) for r in seen] == [f"http://bot-api.test/bot{TOKEN}/getFile",
                                          f"http://bot-api.test/file/bot{TOKEN}/photos/file_7.jpg"]
    assert json.loads(seen[0].content) == {"file_id": "AgAC"}
    seen.clear()
    channel.http = client(telegram_files(m.MAX_BYTES + 1), seen)
    with pytest.raises(m.TooLarge):
        await channel.fetch_media("AgAC")
    assert len(seen) == 1  # refused from the declared size: never downloaded
    channel.http = client(lambda r: httpx.Response(400, json={"ok": False, "description": "file is too big"}), seen)
    with pytest.raises(m.Unavailable):
        await channel.fetch_media("AgAC")
    assert channel.file_url("a.jpg") == f"http://bot-api.test/file/bot{TOKEN}/a.jpg"
    assert TelegramChannel(context, TOKEN).file_url("a") == f"https://api.telegram.org/file/bot{TOKEN}/a"


async def test_telegram_typing_is_send_chat_action(context: ChannelContext) -> None:
    api = await FakeBotAPI().start()
    try:
        channel = TelegramChannel(context, TOKEN, api.base)
        await channel.bot.initialize()
        assert await channel.typing("700100200") is True
        assert api.of("sendChatAction") == [{"chat_id": "700100200", "action": "typing"}]  # form-encoded
        await channel.bot.shutdown()
    finally:
        await api.stop()


WAMID = "wamid.HBgLMTc3MzU1NTAxMTEVAgASGBQzQkJDMDlEQjM3MDE2MTQ0NjcyNQA="


def graph(file_size: Any = "303833", body: bytes = b"OggS-voice",
          url: str = "https://lookaside.fbsbx.test/whatsapp_business/attachments/?mid=1498427540727315",
          ) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.test":
            if request.method == "POST":
                return httpx.Response(200, json={"success": True})
            return httpx.Response(200, json={
                "messaging_product": "whatsapp", "id": "1498427540727315", "mime_type": "audio/ogg",
                "sha256": "x", "file_size": file_size, "url": url})
        return httpx.Response(200, content=body)
    return handler


def whatsapp(context: ChannelContext) -> WhatsAppChannel:
    return WhatsAppChannel(context, "wa-token", "106540352242922", "app-secret", "verify",
                           api_base="https://graph.test/v21.0")


async def test_whatsapp_fetches_the_media_url_then_the_file_both_with_the_token(context: ChannelContext) -> None:
    channel = whatsapp(context)
    seen: list[httpx.Request] = []
    channel.http = client(graph(), seen)
    fetched = await channel.fetch_media("1498427540727315")
    assert (fetched.data, fetched.mime) == (b"OggS-voice", "audio/ogg")
    assert [r.url.host for r in seen] == ["graph.test", "lookaside.fbsbx.test"]
    assert seen[0].url.path == "/v21.0/1498427540727315"
    assert all(r.headers["authorization"] == "Bearer wa-token" for r in seen)
    seen.clear()
    channel.http = client(graph(file_size=str(m.MAX_BYTES + 1)), seen)
    with pytest.raises(m.TooLarge):
        await channel.fetch_media("1498427540727315")
    assert len(seen) == 1
    channel.http = client(lambda r: httpx.Response(404, json={"error": {"code": 100}}), seen)
    with pytest.raises(m.Unavailable):
        await channel.fetch_media("1498427540727315")
    seen.clear()
    channel.http = client(graph(url="http://lookaside.fbsbx.test/plain"), seen)
    with pytest.raises(m.Unavailable):  # the bearer token never travels without TLS
        await channel.fetch_media("1498427540727315")
    assert len(seen) == 1


async def test_whatsapp_typing_is_a_read_receipt_with_the_indicator(context: ChannelContext) -> None:
    channel = whatsapp(context)
    seen: list[httpx.Request] = []
    channel.http = client(graph(), seen)
    assert await channel.typing("17735550111", None) is False and seen == []  # no message to name
    assert await channel.typing("17735550111", WAMID) is True
    [post] = seen
    assert post.url.path == "/v21.0/106540352242922/messages"
    assert json.loads(post.content) == {"messaging_product": "whatsapp", "status": "read",
                                        "message_id": WAMID, "typing_indicator": {"type": "text"}}


def test_local_fixtures_are_in_the_platforms_shape() -> None:
    for name in ("telegram_document_image.json", "telegram_audio.json"):
        data = local(name)
        assert isinstance(data["update_id"], int) and data["message"]["chat"]["type"] == "private"
    assert local("telegram_audio.json")["message"]["audio"]["file_id"]
