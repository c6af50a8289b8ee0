"""Residents' platform addresses (phone numbers), only encrypted, only while needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Optional

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine

from bot.storage.db import addresses, deliveries, transaction, utc_now
from bot.storage.prepared import Prepared


def sealer(secret: bytes, purpose: bytes = b"kyr-addresses-v1") -> Fernet:
    """A Fernet key derived from KYR_SECRET_KEY, one per purpose (addresses, transcripts)."""
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


# Built once and run on the driver's cursor (bot.storage.prepared): every ticket opened and
# closed runs them. (The new values' names differ from the columns': SQLAlchemy keeps a
# column's own name for the SET and VALUES it renders itself.)
_MINE = sa.and_(addresses.c.resident == sa.bindparam("who"),
                addresses.c.purpose == sa.bindparam("for"))
_NEW = {"sealed": sa.bindparam("new_sealed"), "updated_at": sa.bindparam("new_at")}
_UPDATE = Prepared(sa.update(addresses).where(_MINE).values(**_NEW))
_INSERT = Prepared(sa.insert(addresses).values(
    resident=sa.bindparam("who"), purpose=sa.bindparam("for"), **_NEW))
_FORGET = Prepared(sa.delete(addresses).where(_MINE))
_FORGET_ALL = Prepared(sa.delete(addresses).where(addresses.c.resident == sa.bindparam("who")))


class AddressBook:
    """Sealed addresses, one per (resident, purpose). Which purposes exist and when one is
    over is bot.app.residents' to say; this only stores."""

    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.fernet = sealer(secret)

    def remember(self, resident: str, address: str, purpose: str) -> None:
        row = {"who": resident, "for": purpose, "new_at": utc_now(),
               "new_sealed": self.fernet.encrypt(address.encode()).decode()}
        with transaction(self.engine) as connection:
            if not _UPDATE.execute(connection, row).rowcount:
                _INSERT.execute(connection, row)

    def forget(self, resident: str, purpose: Optional[str] = None) -> None:
        """The address kept for `purpose`, or for every purpose."""
        with transaction(self.engine) as connection:
            if purpose is None:
                _FORGET_ALL.execute(connection, {"who": resident})
            else:
                _FORGET.execute(connection, {"who": resident, "for": purpose})

    def lookup(self, resident: str) -> Optional[str]:
        with self.engine.connect() as connection:
            sealed = connection.execute(sa.select(addresses.c.sealed).where(
                addresses.c.resident == resident).order_by(
                addresses.c.updated_at.desc()).limit(1)).scalar()
        if sealed is None:
            return None
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None


def record_delivery(engine: Engine, channel: str, resident: Optional[str], status: str,
                    error_code: Optional[int] = None, reason: Optional[str] = None) -> None:
    with transaction(engine) as connection:
        connection.execute(sa.insert(deliveries).values(
            channel=channel, resident=resident, status=status, error_code=error_code,
            reason=(reason or "")[:200] or None, at=utc_now()))
