"""Process each platform update once: a unique row per (channel, id) decides who handles it."""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.storage.db import processed, transaction, utc_now

KEEP = dt.timedelta(days=3)  # platforms redeliver for at most a day or so


class Once:
    def __init__(self, engine: Engine, channel: str) -> None:
        self.engine = engine
        self.channel = channel

    def first_time(self, key: str) -> bool:
        """True the first time `key` is seen on this channel; False for a redelivery."""
        hashed = hashlib.sha256(key.encode()).hexdigest()  # ids can be phone-derived: hash
        now = utc_now()
        try:
            with transaction(self.engine) as connection:
                connection.execute(sa.insert(processed).values(
                    channel=self.channel, key=hashed, seen_at=now))
            return True
        except IntegrityError:
            return False

    def forget_old(self) -> int:
        return forget_old(self.engine)


def forget_old(engine: Engine) -> int:
    """Keys older than KEEP, of every channel: at a channel's start and in the hourly purge."""
    with transaction(engine) as connection:
        return int(connection.execute(sa.delete(processed).where(
            processed.c.seen_at < utc_now() - KEEP)).rowcount)
