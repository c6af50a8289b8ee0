"""A photo or a voice note a resident sends while a ticket is open: what the channels
report of it, the size limit, and the image scrubbing that removes what could locate them.

Pure: no database, no network. The channels parse the platform's media reference into
`InboundMessage.metadata` (REF, MIME, SIZE) and fetch the bytes (`MediaSource`); the
application keeps them only while a ticket is open, sealed (bot.handoff.tickets).

Images are decoded and encoded again from their pixels alone: EXIF (GPS, camera serial,
time), XMP, IPTC, ICC profiles and comments are not carried over, whatever the format
they came in. Voice notes are kept as they are, and only in Ogg: an Opus voice note
from the platforms' recorders has no location field (its comment header names the
encoder), whereas MP4/M4A and MP3 containers can carry GPS tags (©xyz, ID3), so those
are not kept.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Protocol

PHOTO, VOICE, AUDIO = "photo", "voice", "audio"
KEPT = (PHOTO, VOICE, AUDIO)  # what reaches staff while a ticket is open
MAX_BYTES = 5 * 1024 * 1024  # a phone photo of a paper is 1-4 MB; a minute of Opus ~100 KB
MAX_PIXELS = 40_000_000  # a decompression bomb stops here (a 5 MB file can claim 1 Gpx)
MAX_SIDE = 4096  # larger photos are scaled down: staff read a paper, not a poster

# InboundMessage.metadata keys: the platform's reference to fetch the media by, what it
# declares of it, and (WhatsApp) the message id a typing indicator must name.
REF, MIME, SIZE, MESSAGE_ID = "media_ref", "media_mime", "media_size", "message_id"
CAPTION = "media_caption"  # the resident's words under a photo: staff read them with it
MAX_CAPTION = 1024  # Telegram's caption limit (WhatsApp's is larger; staff read the start)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/gif")
OGG = b"OggS"


class MediaError(Exception):
    """The media could not be kept; `reason` says why, in words for staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLarge(MediaError):
    pass


class Unavailable(MediaError):
    """The platform would not give it (expired, refused, network down)."""


class Unreadable(MediaError):
    """Not an image or voice note this bot can keep safely."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    mime: str


class MediaSource(Protocol):
    """What a channel that can fetch media offers (the application never imports one)."""

    async def fetch_media(self, ref: str, limit: int = MAX_BYTES) -> Fetched: ...


def declared_size(value: object) -> int | None:
    """A size the platform declared (int or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def too_large(limit: int = MAX_BYTES) -> TooLarge:
    words = f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    return TooLarge(f"larger than the {words} limit")


def check_size(size: int | None, limit: int = MAX_BYTES) -> None:
    if size is not None and size > limit:
        raise too_large(limit)


@dataclass(frozen=True)
class Kept:
    """What is stored: the bytes staff may see and their type."""

    kind: str
    mime: str
    data: bytes


def scrub_image(data: bytes) -> bytes:
    """The picture as a new JPEG made from its pixels only: no metadata block survives.

    The EXIF orientation is applied first (the photo stays upright once the tag is gone).
    Raises Unreadable for anything Pillow cannot decode or that is too many pixels."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise Unreadable("too many pixels")
                opened.load()
                try:
                    upright = ImageOps.exif_transpose(opened)
                except Exception:  # a malformed EXIF block: keep the pixels as they are
                    upright = opened.copy()
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error,
            Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise Unreadable(f"not an image that can be read ({type(exc).__name__})") from None
    rgb = upright.convert("RGB")
    rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    pixels = Image.frombytes("RGB", rgb.size, rgb.tobytes())  # a fresh image: no .info at all
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=85, optimize=True)  # no exif=, icc_profile=, comment=
    return out.getvalue()


def keep(kind: str, fetched: Fetched) -> Kept:
    """What may be stored of a fetched photo or voice note, or Unreadable."""
    if kind == PHOTO:
        return Kept(PHOTO, "image/jpeg", scrub_image(fetched.data))
    if kind in (VOICE, AUDIO):
        if not fetched.data.startswith(OGG):
            raise Unreadable("only Ogg voice notes are kept (other audio formats can carry "
                             "location tags)")
        return Kept(kind, "audio/ogg", fetched.data)
    raise Unreadable(f"a {kind[:20]} is not kept")
