-- The schema bot.storage made with create_all before migrations (main at 2078330), postgresql.
-- Used to prove such a database is upgraded in place.

CREATE TABLE kyr_addresses (
	resident VARCHAR(80) NOT NULL, 
	sealed TEXT NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (resident)
);

CREATE TABLE kyr_audit (
	id SERIAL NOT NULL, 
	staff VARCHAR(80) NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	action VARCHAR(30) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_kyr_audit_ticket_id ON kyr_audit (ticket_id);

CREATE TABLE kyr_conversations (
	resident VARCHAR(80) NOT NULL, 
	events TEXT NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (resident)
);

CREATE TABLE kyr_deliveries (
	id SERIAL NOT NULL, 
	channel VARCHAR(20) NOT NULL, 
	resident VARCHAR(80), 
	status VARCHAR(20) NOT NULL, 
	error_code INTEGER, 
	reason VARCHAR(200), 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE kyr_login_failures (
	id SERIAL NOT NULL, 
	key VARCHAR(64) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_kyr_login_failures_key ON kyr_login_failures (key);

CREATE TABLE kyr_processed (
	channel VARCHAR(20) NOT NULL, 
	key VARCHAR(64) NOT NULL, 
	seen_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (channel, key)
);

CREATE TABLE kyr_staff (
	name VARCHAR(80) NOT NULL, 
	role VARCHAR(12) NOT NULL, 
	languages VARCHAR(200) NOT NULL, 
	password_hash VARCHAR(200) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE kyr_staff_sessions (
	token_hash VARCHAR(64) NOT NULL, 
	staff VARCHAR(80) NOT NULL, 
	csrf VARCHAR(64) NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (token_hash)
);

CREATE INDEX ix_kyr_staff_sessions_staff ON kyr_staff_sessions (staff);

CREATE TABLE kyr_tickets (
	id SERIAL NOT NULL, 
	resident VARCHAR(80) NOT NULL, 
	channel VARCHAR(20) NOT NULL, 
	topic VARCHAR(40) NOT NULL, 
	language VARCHAR(12) NOT NULL, 
	priority VARCHAR(10) NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	assignee VARCHAR(80), 
	opened_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	claimed_at TIMESTAMP WITH TIME ZONE, 
	closed_at TIMESTAMP WITH TIME ZONE, 
	disposition VARCHAR(40), 
	after_hours BOOLEAN NOT NULL, 
	path TEXT NOT NULL, 
	last_inbound_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_kyr_tickets_resident ON kyr_tickets (resident);

CREATE INDEX ix_kyr_tickets_status ON kyr_tickets (status);

CREATE UNIQUE INDEX kyr_tickets_one_open ON kyr_tickets (resident) WHERE status != 'closed';

CREATE TABLE kyr_ticket_events (
	id SERIAL NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	actor VARCHAR(80) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ticket_id) REFERENCES kyr_tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_kyr_ticket_events_ticket_id ON kyr_ticket_events (ticket_id);

CREATE TABLE kyr_ticket_messages (
	id SERIAL NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	author VARCHAR(80) NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	sealed TEXT, 
	delivery VARCHAR(10), 
	reason VARCHAR(200), 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ticket_id) REFERENCES kyr_tickets (id) ON DELETE CASCADE
);

CREATE INDEX ix_kyr_ticket_messages_ticket_id ON kyr_ticket_messages (ticket_id);
