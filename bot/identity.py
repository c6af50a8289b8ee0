"""Residents are known only by a keyed hash of (channel, platform id)."""

from __future__ import annotations

import hashlib
import hmac


# The HMAC keyed once per secret and copied for each id: keying it (padding the secret,
# two SHA-256 blocks) was most of a key's cost, and a message needs two or three keys.
_keyed: dict[bytes, "hmac.HMAC"] = {}


def resident_key(secret: bytes, channel: str, platform_id: str) -> str:
    """A stable, non-reversible id: without the secret nobody can map it back to a phone."""
    raw = f"{channel}:{platform_id}".encode("utf-8", "surrogatepass")  # any id, never a crash
    keyed = _keyed.get(secret)
    if keyed is None:
        if len(_keyed) >= 16:  # a process has one or two secrets; tests make more
            _keyed.clear()
        keyed = _keyed[secret] = hmac.new(secret, digestmod=hashlib.sha256)
    digest = keyed.copy()
    digest.update(raw)
    return f"{channel}-{digest.hexdigest()[:40]}"
