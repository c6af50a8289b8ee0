"""What the transparency report keeps besides the counters: the quarters an admin has
published (frozen, exactly as previewed) and the legal requests the service received.

A published quarter is stored as the protected report data (suppression already applied),
so the public page serves numbers that were checked once and never change under it, and
nothing unsuppressed is ever read by the web process.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app.counters import slug
from bot.storage.db import as_utc, transaction, utc_now
from bot.storage.schema import legal_requests, published_reports

REQUEST_KINDS = ("subpoena", "warrant", "court_order", "administrative", "informal", "other")
# "no_data": the service held nothing responsive (what minimal storage is for).
OUTCOMES = ("pending", "refused", "challenged", "no_data", "data_produced", "withdrawn")


class TransparencyError(ValueError):
    """An entry or a publication the store refuses; the message says what to change."""


@dataclass(frozen=True)
class LegalRequest:
    id: int
    received_on: dt.date
    kind: str
    answered_on: Optional[dt.date]
    outcome: str


@dataclass(frozen=True)
class PublishedReport:
    quarter: str
    published_at: dt.datetime
    published_by: str
    data: dict[str, Any]


class TransparencyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- legal requests ----

    def add_request(self, received_on: dt.date, kind: str, outcome: str = "pending",
                    answered_on: Optional[dt.date] = None, entered_by: str = "admin") -> int:
        if kind not in REQUEST_KINDS:
            raise TransparencyError(f"kind must be one of: {', '.join(REQUEST_KINDS)}")
        if outcome not in OUTCOMES:
            raise TransparencyError(f"outcome must be one of: {', '.join(OUTCOMES)}")
        if answered_on is not None and answered_on < received_on:
            raise TransparencyError("it cannot be answered before it was received")
        if outcome != "pending" and answered_on is None:
            raise TransparencyError("an answered request needs --answered DATE")
        with transaction(self.engine) as connection:
            return int(connection.execute(sa.insert(legal_requests).values(
                received_on=received_on, kind=kind, outcome=outcome, answered_on=answered_on,
                entered_by=slug(entered_by), entered_at=utc_now())).inserted_primary_key[0])

    def answer_request(self, request_id: int, answered_on: dt.date, outcome: str) -> None:
        if outcome not in OUTCOMES or outcome == "pending":
            raise TransparencyError(f"outcome must be one of: {', '.join(OUTCOMES[1:])}")
        with transaction(self.engine) as connection:
            received = connection.execute(sa.select(legal_requests.c.received_on).where(
                legal_requests.c.id == request_id)).scalar()
            if received is None:
                raise TransparencyError(f"no legal request {request_id}")
            if answered_on < received:
                raise TransparencyError("it cannot be answered before it was received")
            connection.execute(sa.update(legal_requests).where(
                legal_requests.c.id == request_id).values(answered_on=answered_on, outcome=outcome))

    def requests(self, start: dt.date | None = None, end: dt.date | None = None) -> list[LegalRequest]:
        """Requests received in [start, end), oldest first."""
        query = sa.select(legal_requests).order_by(legal_requests.c.received_on, legal_requests.c.id)
        if start is not None:
            query = query.where(legal_requests.c.received_on >= start)
        if end is not None:
            query = query.where(legal_requests.c.received_on < end)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [LegalRequest(r["id"], r["received_on"], r["kind"], r["answered_on"], r["outcome"])
                for r in rows]

    # ---- published quarters ----

    def publish(self, quarter: str, data: dict[str, Any], by: str, replace: bool = False) -> None:
        row = {"quarter": quarter, "published_at": utc_now(), "published_by": slug(by),
               "data": json.dumps(data, ensure_ascii=False, sort_keys=True)}
        with transaction(self.engine) as connection:
            exists = connection.execute(sa.select(published_reports.c.quarter).where(
                published_reports.c.quarter == quarter)).first() is not None
            if exists and not replace:
                raise TransparencyError(f"{quarter} is already published (--replace to publish "
                                        "it again)")
            if exists:
                connection.execute(sa.update(published_reports).where(
                    published_reports.c.quarter == quarter).values(**row))
            else:
                connection.execute(sa.insert(published_reports).values(**row))

    def published(self, quarter: str) -> PublishedReport | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(published_reports).where(
                published_reports.c.quarter == quarter)).mappings().first()
        if row is None:
            return None
        return PublishedReport(row["quarter"], as_utc(row["published_at"]), row["published_by"],
                               json.loads(row["data"]))

    def quarters(self) -> list[str]:
        """Published quarters, newest first."""
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(published_reports.c.quarter).order_by(
                published_reports.c.quarter.desc())).scalars())
