"""Residents' platform addresses (phone numbers), only encrypted, only while needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Optional

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine

from bot.storage.db import addresses, deliveries, utc_now


def sealer(secret: bytes, purpose: bytes = b"kyr-addresses-v1") -> Fernet:
    """A Fernet key derived from KYR_SECRET_KEY, one per purpose (addresses, transcripts)."""
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


class AddressBook:
    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.fernet = sealer(secret)

    def remember(self, resident: str, address: str) -> None:
        row = {"sealed": self.fernet.encrypt(address.encode()).decode(),
               "updated_at": utc_now()}
        with self.engine.begin() as connection:
            done = connection.execute(sa.update(addresses).where(
                addresses.c.resident == resident).values(**row)).rowcount
            if not done:
                connection.execute(sa.insert(addresses).values(resident=resident, **row))

    def forget(self, resident: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(addresses).where(addresses.c.resident == resident))

    def lookup(self, resident: str) -> Optional[str]:
        with self.engine.connect() as connection:
            sealed = connection.execute(sa.select(addresses.c.sealed).where(
                addresses.c.resident == resident)).scalar()
        if sealed is None:
            return None
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None


def record_delivery(engine: Engine, channel: str, resident: Optional[str], status: str,
                    error_code: Optional[int] = None, reason: Optional[str] = None) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(deliveries).values(
            channel=channel, resident=resident, status=status, error_code=error_code,
            reason=(reason or "")[:200] or None, at=utc_now()))
