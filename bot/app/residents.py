"""The one owner of what is stored about a resident: key, address, erasure, retention.

A resident is known by a keyed hash of (channel, platform id). Their platform address
(a phone number, a chat id) is kept sealed, and only while a purpose needs it: today an
open ticket (staff replies must reach them), or an alert subscription (alerts must
reach them, for as long as they stay subscribed). Erasure (/delete) and the retention
purge are written here once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine as Database

from bot.handoff.tickets import TicketService
from bot.identity import resident_key
from bot.network.alerts import AlertService
from bot.network.reports import ReportService
from bot.network.subscriptions import Subscriptions
from bot.storage import once
from bot.storage.addresses import AddressBook
from bot.storage.db import addresses, deliveries, shred_files, transaction, utc_now
from bot.storage.offload import off_loop
from bot.storage.schema import alert_deliveries, inbox, outbox, subscriptions as subscribed
from bot.storage.tracker_store import KyrTrackerStore

logger = logging.getLogger(__name__)

TICKET = "ticket"  # an open ticket: staff replies must reach the resident
ALERTS = "alerts"  # a subscription to alerts (bot.network.subscriptions): they must reach them
PURPOSES = (TICKET, ALERTS)


class Residents:
    def __init__(self, db: Database, secret: bytes, tickets: TicketService,
                 conversations: KyrTrackerStore, reports: Optional[ReportService] = None,
                 subscriptions: Optional[Subscriptions] = None,
                 alerts: Optional[AlertService] = None) -> None:
        self.db = db
        self._secret = secret
        self.tickets = tickets
        self.conversations = conversations
        self.reports = reports
        self.subscriptions = subscriptions
        self.alerts = alerts
        self._addresses = AddressBook(db, secret)

    def key(self, channel: str, user: str) -> str:
        return resident_key(self._secret, channel, user)

    # ---- addresses, kept for a purpose ----

    def remember(self, resident: str, address: str, purpose: str = TICKET) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose for an address: {purpose}")
        self._addresses.remember(resident, address, purpose)

    def release(self, resident: str, purpose: str = TICKET, still_open: bool | None = None) -> None:
        """The purpose is over (the ticket closed, alerts stopped): the address kept for it
        goes, unless the purpose still holds.

        `still_open` is whether the resident has a ticket open now, when the caller knows
        (else it is looked up: they may have asked for a person again meanwhile)."""
        if purpose == TICKET:
            if still_open is None:
                still_open = self.tickets.open_for(resident) is not None
            if still_open:
                return
        if (purpose == ALERTS and self.subscriptions is not None
                and self.subscriptions.get(resident) is not None):
            return  # subscribed again meanwhile (another message): alerts must still reach them
        self._addresses.forget(resident, purpose)

    def address(self, resident: str) -> str | None:
        return self._addresses.lookup(resident)

    # ---- erasure and retention ----

    async def erase(self, resident: str) -> None:
        # In a worker's turn the conversation's save is held until the turn commits:
        # hold its deletion instead, or the commit would bring the conversation back.
        self.conversations.forget_held(resident)
        await off_loop(self.erase_now, resident)

    def erase_now(self, resident: str) -> None:
        """/delete: tickets, transcripts, conversation, subscription, every address,
        delivery records; their reports keep no link to them (area, what and outcome stay)."""
        if self.reports is not None:
            self.reports.forget_resident(resident)  # before the tickets that link them go
        self.tickets.erase_resident(resident)
        if self.subscriptions is not None:
            self.subscriptions.stop(resident)
        self.conversations.delete_now(resident)
        self._addresses.forget(resident)  # for every purpose
        with transaction(self.db) as connection:
            connection.execute(sa.delete(deliveries).where(deliveries.c.resident == resident))
            # Their finished queue rows (hashes and times only); rows still pending are
            # this turn's and its reply ("your data is deleted"), which must still go out.
            connection.execute(sa.delete(inbox).where(
                inbox.c.conversation == resident, inbox.c.state.in_(("done", "stale", "failed"))))
            connection.execute(sa.delete(outbox).where(
                outbox.c.conversation == resident, outbox.c.state.in_(("sent", "failed"))))
            # Alerts to them: sent or not, they go (an unsent one would still hold their
            # address), with the delivery rows that name them (bot.app.broadcast).
            connection.execute(sa.delete(outbox).where(outbox.c.conversation == f"alert:{resident}"))
            connection.execute(sa.delete(alert_deliveries).where(
                alert_deliveries.c.resident == resident))
        shred_files(self.db)

    def purge_expired(self, retention: dt.timedelta, transcripts: dt.timedelta) -> tuple[int, int]:
        """What the retention settings say must go: (conversations, transcript lines).
        Reports older than `retention` go too, and alerts that expired longer ago; a subscriber's address stays while they are
        subscribed (however long ago they subscribed), and goes once they are not."""
        cutoff = utc_now() - retention
        subscriber = addresses.c.resident.in_(sa.select(subscribed.c.resident))
        with transaction(self.db) as connection:
            connection.execute(sa.delete(addresses).where(
                addresses.c.updated_at < cutoff,
                sa.not_(sa.and_(addresses.c.purpose == ALERTS, subscriber))))
            # An alerts address whose subscription is gone (stopped without a release).
            connection.execute(sa.delete(addresses).where(
                addresses.c.purpose == ALERTS, sa.not_(subscriber)))
            connection.execute(sa.delete(deliveries).where(deliveries.c.at < cutoff))
        conversations = self.conversations.purge(retention)
        once.forget_old(self.db)  # handled-once keys of webhooks, after 3 days
        lines = self.tickets.purge_transcripts(transcripts)
        if self.reports is not None:
            purged = self.reports.purge(retention)
            if purged:
                logger.warning("deleted %d report(s) filed over %d days ago", purged,
                               retention.days)
        if self.alerts is not None:
            purged = self.alerts.purge(retention)
            if purged:
                logger.warning("deleted %d alert(s) that expired over %d days ago", purged,
                               retention.days)
        shred_files(self.db)
        return conversations, lines
