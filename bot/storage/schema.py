"""Every table of the bot, in one place; Alembic migrations (bot/storage/migrations) make them.

A table exists because a migration made it, not because a module that defines it was
imported: `kyr db upgrade` (and every start) brings a database to the newest revision,
and a test fails when these definitions and the migrations disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# ---- conversations and platforms (bot.storage) ----

conversations = sa.Table(
    "kyr_conversations",
    metadata,
    # The keyed hash of (channel, platform id): never the phone number or chat id.
    sa.Column("resident", sa.String(80), primary_key=True),
    # Rasa events of the current session only; resident text is redacted before saving.
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


processed = sa.Table(
    "kyr_processed",
    metadata,
    # (channel, platform update or message id, hashed): each is handled once, even when the
    # platform delivers it again or two workers receive it (the primary key decides).
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)


deliveries = sa.Table(
    "kyr_deliveries",
    metadata,
    # Sends that failed, and platform statuses: counted for metrics, failures kept for staff.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("resident", sa.String(80), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # sent, delivered, read, failed
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(200), nullable=True),  # e.g. "outside the 24-hour window"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

addresses = sa.Table(
    "kyr_addresses",
    metadata,
    # How to reach a resident later (a phone number), encrypted with a key derived from
    # KYR_SECRET_KEY; one row per purpose that needs it (bot.app.residents), gone with it.
    sa.Column("resident", sa.String(80), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False, server_default="ticket"),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("resident", "purpose", name="kyr_addresses_pkey"),
)


# ---- tickets (bot.handoff.tickets) ----

tickets = sa.Table(
    "kyr_tickets", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resident", sa.String(80), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("language", sa.String(12), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("assignee", sa.String(80), nullable=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("disposition", sa.String(40), nullable=True),
    sa.Column("after_hours", sa.Boolean, nullable=False, default=False),
    sa.Column("path", sa.Text, nullable=False, default="[]"),  # steps that led here (JSON)
    sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
    # The resident's last platform message id, sealed, only while the ticket is open: a
    # WhatsApp typing indicator names it (a wamid encodes the phone number).
    sa.Column("reply_ref", sa.Text, nullable=True),
    # SQLite would reuse the id of a ticket erased by /delete: a staff page still open on
    # the old ticket, or its audit entry, would then reach someone else's.
    sqlite_autoincrement=True,
)
# One ticket at a time per resident, kept by the database: two messages asking for a person
# at the same instant (two workers, a double tap) cannot open two tickets.
ONE_OPEN = sa.Index("kyr_tickets_one_open", tickets.c.resident, unique=True,
                    sqlite_where=tickets.c.status != "closed",
                    postgresql_where=tickets.c.status != "closed")


ticket_messages = sa.Table(
    "kyr_ticket_messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("author", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("sealed", sa.Text, nullable=True),  # NULL once the retention has passed
    sa.Column("delivery", sa.String(10), nullable=True),  # replies: sending, sent, failed
    sa.Column("reason", sa.String(200), nullable=True),  # why a reply was not delivered
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

ticket_events = sa.Table(
    "kyr_ticket_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # opened, claimed, transferred, closed, ...
    sa.Column("actor", sa.String(80), nullable=False),  # "resident", "bot", "staff:<name>"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,  # the console's version (newest id) must never go back
)

# Photos and voice notes a resident sent while the ticket was open (bot.core.media):
# images re-encoded without metadata, sealed like the transcript, deleted with its text.
ticket_media = sa.Table(
    "kyr_ticket_media", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("message_id", sa.Integer, sa.ForeignKey("kyr_ticket_messages.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # photo, voice, audio
    sa.Column("mime", sa.String(40), nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),  # a Fernet token of the bytes
    # The key `sealed` is opened with: "resident", their data key (bot.storage.keys), gone at
    # erasure and purge; "legacy", the key derived from KYR_SECRET_KEY (rows from before
    # 0010, and from code that does not know the column: the default).
    sa.Column("sealed_with", sa.String(10), nullable=False, server_default="legacy"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

# What each staff member has read of each ticket (the newest transcript line they saw):
# the console's unread marks. Deleted with the ticket.
ticket_reads = sa.Table(
    "kyr_ticket_reads", metadata,
    sa.Column("staff", sa.String(80), primary_key=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("message_id", sa.Integer, nullable=False),
)


# ---- staff (bot.handoff.staff) ----

staff_accounts = sa.Table(
    "kyr_staff", metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("role", sa.String(12), nullable=False),
    sa.Column("languages", sa.String(200), nullable=False, default=""),  # "es,pl"
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("console_language", sa.String(12), nullable=True),  # the console's texts; None: en
)

staff_sessions = sa.Table(
    "kyr_staff_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("staff", sa.String(80), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),  # the absolute limit
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),  # the last thing they did
)

# Who is on shift: marked by the person, and only counted while a console page of theirs is
# open (it checks in every minute). The bot asks this before saying a person is connected.
staff_presence = sa.Table(
    "kyr_staff_presence", metadata,
    sa.Column("staff", sa.String(80), primary_key=True),
    sa.Column("on_shift", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
)

login_failures = sa.Table(
    "kyr_login_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, index=True),  # hash of account or address
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

audit_log = sa.Table(
    "kyr_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("staff", sa.String(80), nullable=False),
    sa.Column("ticket_id", sa.Integer, nullable=False, index=True),
    sa.Column("action", sa.String(30), nullable=False),  # bot.handoff.staff.ACTIONS
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.String(120), nullable=True),  # "to luis", a disposition
    sa.Column("visit", sa.String(16), nullable=True),  # which login session (hash prefix)
)


# The durable inbox and outbox (bot.app.inbox, bot.app.outbox). Times are epoch seconds
# (floats): the claim queries compare them in SQL, and a float compares the same way on
# SQLite and PostgreSQL, where a timestamp does not (SQLite keeps text). Platform ids are
# keyed hashes; payloads and addresses are sealed and dropped once a row is done.
inbox = sa.Table(
    "kyr_inbox",
    metadata,
    # Arrival order: a conversation's rows are handled in id order.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(20), nullable=False),
    # Keyed hash of the platform's message or update id: the dedupe key.
    sa.Column("key", sa.String(64), nullable=False),
    # Keyed hash of (channel, sender): at most one row of a conversation is handled at a time.
    sa.Column("conversation", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # message, status, group
    sa.Column("sealed", sa.Text, nullable=True),  # the message, encrypted; NULL once done
    # todo -> doing -> done; stale (too old by its platform time); failed (gave up)
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("lease", sa.String(32), nullable=True),  # the token of the worker holding it
    sa.Column("lease_until", sa.Float, nullable=True),  # also "not before" after a failure
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("platform_at", sa.Float, nullable=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float, nullable=True),
    sa.UniqueConstraint("channel", "key", name="uq_kyr_inbox_key"),
    sa.Index("ix_kyr_inbox_conversation", "conversation", "id"),
    sa.Index("ix_kyr_inbox_state", "state", "id"),
)

outbox = sa.Table(
    "kyr_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("conversation", sa.String(80), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),  # 0 reply, 1 staff, 2 bulk
    # The inbox row this answers and the part number: a turn's replies are written once.
    sa.Column("inbox_id", sa.Integer, nullable=True),
    sa.Column("part", sa.Integer, nullable=False, default=0),
    sa.Column("sealed", sa.Text, nullable=True),  # address + message, encrypted; NULL once sent
    sa.Column("state", sa.String(10), nullable=False),  # todo, doing, sent, failed
    sa.Column("lease", sa.String(32), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.UniqueConstraint("inbox_id", "part", name="uq_kyr_outbox_part"),
    sa.Index("ix_kyr_outbox_conversation", "channel", "conversation", "id"),
    sa.Index("ix_kyr_outbox_state", "channel", "state", "priority", "id"),
)

# ---- the transparency report (bot.app.counters, bot.transparency) ----

counts = sa.Table(
    "kyr_counts", metadata,
    # Daily aggregates written at each effect: no identity, no text, nothing finer than a
    # (Chicago) day and a community area; kept through every purge.
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("area", sa.String(40), primary_key=True, default=""),  # community area slug or ""
    sa.Column("dimension", sa.String(20), primary_key=True, default=""),  # "" = the kind's total
    sa.Column("value", sa.String(40), primary_key=True, default=""),
    sa.Column("n", sa.Integer, nullable=False),
)

published_reports = sa.Table(
    "kyr_published_reports", metadata,
    sa.Column("quarter", sa.String(6), primary_key=True),  # "2026Q4"
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_by", sa.String(80), nullable=False),  # an admin's name
    sa.Column("data", sa.Text, nullable=False),  # the protected report, JSON
)

legal_requests = sa.Table(
    "kyr_legal_requests", metadata,
    # Requests from authorities for residents' data, entered by an admin: kind, dates and
    # outcome only (no names, case numbers or free text).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_on", sa.Date, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("answered_on", sa.Date, nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("entered_by", sa.String(80), nullable=False),
    sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)


# ---- the rapid-response network (bot.network) ----

reports = sa.Table(
    "kyr_reports", metadata,
    # A resident's report of enforcement activity, checked by a verifier before any alert.
    # No resident identity of its own: the ticket it came with (if any) is the only link.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # new -> verifying -> confirmed | not_confirmed | unable_to_confirm (bot.network.reports)
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("area", sa.String(40), nullable=False),  # bot.core.areas code: "c24", "s-cicero"
    sa.Column("what", sa.String(120), nullable=False),  # JSON list from a closed vocabulary
    sa.Column("seen", sa.String(12), nullable=False),  # when it was seen: now, last_hour, ...
    sa.Column("ongoing", sa.Boolean, nullable=True),  # still happening, when the resident said
    sa.Column("cross_streets", sa.Text, nullable=True),  # sealed; never a home address
    sa.Column("language", sa.String(12), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("ticket_id", sa.Integer, nullable=True),  # no foreign key: /delete may erase it
    sa.Column("verifier", sa.String(80), nullable=True),  # a staff name
    sa.Column("outcome_note", sa.Text, nullable=True),  # sealed: what the verifier saw
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,  # an erased report's id must never name a later one
)

report_events = sa.Table(
    "kyr_report_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("kyr_reports.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # filed, assigned, confirmed, ...
    sa.Column("actor", sa.String(80), nullable=False),  # "resident", "staff:<name>"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,  # the console's version (newest id) must never go back
)

alerts = sa.Table(
    "kyr_alerts", metadata,
    # An alert to the subscribers of some areas: drafted by one person, approved by another.
    # It names areas and a time, never an address; its words come from a reviewed template.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(12), nullable=False),  # alert, all_clear, correction
    sa.Column("state", sa.String(12), nullable=False, index=True),  # draft ... sent, withdrawn
    sa.Column("areas", sa.Text, nullable=False),  # JSON list of area codes
    sa.Column("template", sa.String(80), nullable=False),  # content key under "alerts."
    sa.Column("params", sa.Text, nullable=False),  # JSON {name: short value}
    sa.Column("free_text", sa.Text, nullable=True),  # sealed JSON {lang: text by the author}
    sa.Column("report_id", sa.Integer, nullable=True),  # the confirmed report (kept if purged)
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("kyr_alerts.id"), nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("drafted_by", sa.String(80), nullable=False),  # "staff:<name>"
    sa.Column("approved_by", sa.String(80), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

alert_events = sa.Table(
    "kyr_alert_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # drafted, approved, sending, sent, ...
    sa.Column("actor", sa.String(80), nullable=False),  # "staff:<name>", "bot"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

subscriptions = sa.Table(
    "kyr_subscriptions", metadata,
    # A resident who asked for alerts: the keyed hash, never the number or chat id (that is
    # sealed in kyr_addresses, purpose "alerts", while the subscription lasts).
    sa.Column("resident", sa.String(80), primary_key=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("language", sa.String(12), nullable=False),
    sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("consent_method", sa.String(10), nullable=False),  # button, typed, command
    sa.Column("consent_version", sa.String(64), nullable=False),  # hash of the wording agreed to
    sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),  # WhatsApp window
)

subscription_areas = sa.Table(
    "kyr_subscription_areas", metadata,
    # One row per (subscriber, area): a broadcast selects by area through the index.
    sa.Column("resident", sa.String(80), sa.ForeignKey("kyr_subscriptions.resident",
                                                       ondelete="CASCADE"), primary_key=True),
    sa.Column("area", sa.String(40), primary_key=True),
    sa.Index("ix_kyr_subscription_areas_area", "area", "resident"),
)

# ---- alert delivery (bot.app.broadcast) ----

alert_broadcasts = sa.Table(
    "kyr_alert_broadcasts", metadata,
    # One row per alert being sent: planned_at is set once every subscriber has a delivery
    # row, so a start cut short by a crash is finished by the next resume, and only then.
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("planned_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

alert_deliveries = sa.Table(
    "kyr_alert_deliveries", metadata,
    # One row per (alert, subscriber), written with its outbox row in one transaction: the
    # unique key makes a resumed start skip who already has one. The resident is the keyed
    # hash; the address and the words are only in the (sealed) outbox row.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("resident", sa.String(80), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("language", sa.String(12), nullable=False),
    sa.Column("area", sa.String(40), nullable=False),  # the alert's area this subscriber follows
    # Release order of held rows: the alert's kind (alert, correction, all clear), then the
    # place of the area in the alert (its first area is the report's).
    sa.Column("urgency", sa.Integer, nullable=False, default=0),
    # queued (its outbox row waits) | held (over WhatsApp's daily tier) | sent | failed |
    # opted_out (stopped between start and send)
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("template", sa.Boolean, nullable=False, default=False),  # WhatsApp, outside 24 h
    sa.Column("outbox_id", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(200), nullable=True),  # why failed, in words for staff
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("queued_at", sa.Float, nullable=True),  # its outbox row written: the tier counts it
    sa.Column("done_at", sa.Float, nullable=True),
    sa.UniqueConstraint("alert_id", "resident", name="uq_kyr_alert_deliveries_resident"),
    sa.Index("ix_kyr_alert_deliveries_state", "alert_id", "state"),
    sa.Index("ix_kyr_alert_deliveries_outbox", "outbox_id"),
    sa.Index("ix_kyr_alert_deliveries_held", "state", "urgency", "id"),
    sa.Index("ix_kyr_alert_deliveries_tier", "channel", "template", "queued_at"),
    sqlite_autoincrement=True,
)


# ---- crypto-shredding (bot.storage.keys) ----

# One data key per resident, sealed by a key derived from KYR_SECRET_KEY. Their transcript
# lines are sealed with it; erasure and the retention purge delete the row, and every copy
# of those lines left in the files (WAL, free pages, PostgreSQL's dead rows) is noise.
data_keys = sa.Table(
    "kyr_data_keys", metadata,
    sa.Column("resident", sa.String(80), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
