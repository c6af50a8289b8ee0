"""Who asked for alerts: a keyed-hash identity, a channel, a language, some areas, and when
and how they agreed.

Nothing here reaches a resident: the address to reach them is sealed in kyr_addresses for
the purpose "alerts" (bot.app.residents), kept only while the subscription lasts, and the
caller of `stop` releases it. A subscriber's areas are rows of their own so a broadcast
selects by area through an index, and `for_areas` streams in pages ordered by resident:
a broadcast to 100,000 subscribers holds neither them all in memory nor a connection
between pages (the broadcaster writes while it reads).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.core.areas import area as find_area
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.prepared import Prepared
from bot.storage.schema import subscription_areas, subscriptions

METHODS = ("button", "typed", "command")  # how consent was given
MAX_AREAS = 20
PAGE = 500  # subscribers read per query by `for_areas`


class SubscriptionError(ValueError):
    """A subscription the caller should not have asked for (an unknown area, no areas)."""


@dataclass(frozen=True)
class Subscriber:
    resident: str
    channel: str
    language: str
    areas: tuple[str, ...]
    consent_at: dt.datetime
    consent_method: str  # "button" | "typed" | "command"
    consent_version: str  # the wording's version: a hash of the English confirmation text
    last_inbound_at: Optional[dt.datetime]  # WhatsApp's 24-hour window


# Built once (every message runs it): see bot.handoff.tickets._OPEN_FOR.
_SEEN = Prepared(sa.update(subscriptions).where(subscriptions.c.resident == sa.bindparam("who")).values(
    last_inbound_at=sa.bindparam("at")))


class Subscriptions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _areas_of(self, connection: Connection, residents: list[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {r: [] for r in residents}
        if residents:
            for resident, code in connection.execute(sa.select(
                    subscription_areas.c.resident, subscription_areas.c.area).where(
                    subscription_areas.c.resident.in_(residents)).order_by(
                    subscription_areas.c.resident, subscription_areas.c.area)):
                found[resident].append(code)
        return {r: tuple(codes) for r, codes in found.items()}

    @staticmethod
    def _subscriber(row: sa.engine.RowMapping, areas: tuple[str, ...]) -> Subscriber:
        return Subscriber(row["resident"], row["channel"], row["language"], areas,
                          as_utc(row["consent_at"]), row["consent_method"], row["consent_version"],
                          as_utc(row["last_inbound_at"]))

    # ---- writing ----

    def subscribe(self, resident: str, channel: str, language: str, areas: Iterable[str],
                  method: str, version: str) -> Subscriber:
        """Subscribe, or change a subscription: the areas given replace the old ones, and the
        consent (time, method, wording version) is this one."""
        codes = tuple(dict.fromkeys(areas))
        if not codes:
            raise SubscriptionError("a subscription names at least one area")
        if len(codes) > MAX_AREAS:
            raise SubscriptionError(f"a subscription names at most {MAX_AREAS} areas")
        unknown = [code for code in codes if find_area(code) is None]
        if unknown:
            raise SubscriptionError(f"unknown area(s): {', '.join(unknown)}")
        if method not in METHODS:
            raise SubscriptionError(f"consent method must be one of {', '.join(METHODS)}")
        if not version or len(version) > 64:
            raise SubscriptionError("the consent version is a hash of at most 64 characters")
        now = utc_now()
        channel, language = channel[:20], language[:12]
        row = {"channel": channel, "language": language, "consent_at": now,
               "consent_method": method, "consent_version": version, "last_inbound_at": now}
        for attempt in range(2):
            try:
                with transaction(self.engine) as connection:
                    changed = connection.execute(sa.update(subscriptions).where(
                        subscriptions.c.resident == resident).values(**row)).rowcount
                    if not changed:
                        connection.execute(sa.insert(subscriptions).values(resident=resident, **row))
                    connection.execute(sa.delete(subscription_areas).where(
                        subscription_areas.c.resident == resident))
                    connection.execute(sa.insert(subscription_areas), [
                        {"resident": resident, "area": code} for code in codes])
                break
            except sa.exc.IntegrityError:  # subscribed a moment ago by another message
                if attempt:
                    raise
        # As written (areas in the order `get` gives them), without reading it back.
        return Subscriber(resident, channel, language, tuple(sorted(codes)), now, method,
                          version, now)

    def stop(self, resident: str) -> bool:
        """No more alerts: True when there was a subscription. The caller releases the
        address (Residents.release(resident, ALERTS))."""
        with transaction(self.engine) as connection:
            connection.execute(sa.delete(subscription_areas).where(
                subscription_areas.c.resident == resident))
            return bool(connection.execute(sa.delete(subscriptions).where(
                subscriptions.c.resident == resident)).rowcount)

    def seen(self, resident: str, at: Optional[dt.datetime] = None,
             connection: Optional[Connection] = None) -> None:
        """The resident wrote (anything): WhatsApp's 24-hour window restarts. One UPDATE by
        primary key, nothing when they are not subscribed. On the caller's transaction when
        given one (the turn's first trip to the database)."""
        if connection is not None:
            _SEEN.execute(connection, {"who": resident, "at": at or utc_now()})
            return
        with transaction(self.engine) as own:
            _SEEN.execute(own, {"who": resident, "at": at or utc_now()})

    # ---- reading ----

    def get(self, resident: str) -> Optional[Subscriber]:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(subscriptions).where(
                subscriptions.c.resident == resident)).mappings().first()
            if row is None:
                return None
            return self._subscriber(row, self._areas_of(connection, [resident])[resident])

    def get_many(self, residents: Iterable[str]) -> dict[str, Subscriber]:
        """The subscribed among these residents, in one read (two queries)."""
        wanted = list(dict.fromkeys(residents))
        if not wanted:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(subscriptions).where(
                subscriptions.c.resident.in_(wanted))).mappings().all()
            their = self._areas_of(connection, [r["resident"] for r in rows])
        return {r["resident"]: self._subscriber(r, their[r["resident"]]) for r in rows}

    def for_areas(self, areas: Iterable[str], page: int = PAGE) -> Iterator[Subscriber]:
        """Everyone subscribed to any of these areas, once each, ordered by resident; read
        `page` at a time (keyset pagination: nothing held open between pages)."""
        codes = list(dict.fromkeys(areas))
        if not codes:
            return
        after = ""
        while True:
            wanted = sa.select(subscription_areas.c.resident).where(
                subscription_areas.c.area.in_(codes))
            query = sa.select(subscriptions).where(
                subscriptions.c.resident.in_(wanted), subscriptions.c.resident > after).order_by(
                subscriptions.c.resident).limit(page)
            with self.engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
                their = self._areas_of(connection, [r["resident"] for r in rows])
            for row in rows:
                yield self._subscriber(row, their[row["resident"]])
            if len(rows) < page:
                return
            after = rows[-1]["resident"]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(subscriptions)).scalar() or 0)

    def counts_by_area(self) -> dict[str, int]:
        """Subscribers per area code (a subscriber of two areas counts in both)."""
        with self.engine.connect() as connection:
            return {code: int(n) for code, n in connection.execute(sa.select(
                subscription_areas.c.area, sa.func.count()).group_by(subscription_areas.c.area))}
