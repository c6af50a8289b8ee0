"""Residents are known only by a keyed hash of (channel, platform id)."""

from __future__ import annotations

import hashlib
import hmac


def resident_key(secret: bytes, channel: str, platform_id: str) -> str:
    """A stable, non-reversible id: without the secret nobody can map it back to a phone."""
    raw = f"{channel}:{platform_id}".encode("utf-8", "surrogatepass")  # any id, never a crash
    digest = hmac.new(secret, raw, hashlib.sha256)
    return f"{channel}-{digest.hexdigest()[:40]}"
