-- Parley schema, version 1. Times are Unix microseconds (UTC).

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	handle        TEXT    NOT NULL,
	handle_norm   TEXT    NOT NULL UNIQUE,
	display_name  TEXT    NOT NULL DEFAULT '',
	profile_pic   TEXT    NOT NULL DEFAULT '',
	bio           TEXT    NOT NULL DEFAULT '',
	password_hash TEXT    NOT NULL,
	created_at    INTEGER NOT NULL
);

CREATE TABLE devices (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id),
	name       TEXT    NOT NULL DEFAULT '',
	token_hash BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE conversations (
	id               INTEGER PRIMARY KEY,
	type             TEXT    NOT NULL,
	title            TEXT    NOT NULL DEFAULT '',
	created_by       INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	last_seq         INTEGER NOT NULL DEFAULT 0,
	last_activity_at INTEGER NOT NULL,
	direct_key       TEXT UNIQUE
);

CREATE TABLE members (
	conversation_id INTEGER NOT NULL REFERENCES conversations(id),
	user_id         INTEGER NOT NULL REFERENCES users(id),
	role            TEXT    NOT NULL,
	joined_seq      INTEGER NOT NULL,
	joined_at       INTEGER NOT NULL,
	left_seq        INTEGER,
	delivered_seq   INTEGER NOT NULL DEFAULT 0,
	read_seq        INTEGER NOT NULL DEFAULT 0,
	hidden          INTEGER NOT NULL DEFAULT 0,
	cleared_seq     INTEGER NOT NULL DEFAULT 0,
	muted           INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id);

-- The log. The idempotency key (sender device, client_msg_id) lives on the
-- row itself: one table, and retention removes both together.
CREATE TABLE messages (
	id               INTEGER PRIMARY KEY,
	conversation_id  INTEGER NOT NULL,
	seq              INTEGER NOT NULL,
	sender_id        INTEGER NOT NULL,
	sender_device_id INTEGER NOT NULL,
	client_msg_id    TEXT,
	content_hash     BLOB,
	type             TEXT    NOT NULL,
	body             TEXT    NOT NULL DEFAULT '',
	media_id         INTEGER,
	reply_to         INTEGER,
	recall_of        INTEGER,
	created_at       INTEGER NOT NULL,
	recalled_at      INTEGER
);
CREATE UNIQUE INDEX messages_seq ON messages(conversation_id, seq);
CREATE UNIQUE INDEX messages_dedup ON messages(sender_device_id, client_msg_id) WHERE client_msg_id IS NOT NULL;

CREATE TABLE device_cursors (
	device_id       INTEGER NOT NULL,
	conversation_id INTEGER NOT NULL,
	seq             INTEGER NOT NULL,
	PRIMARY KEY (device_id, conversation_id)
) WITHOUT ROWID;

CREATE TABLE friendships (
	user_id  INTEGER NOT NULL,
	other_id INTEGER NOT NULL,
	state    TEXT    NOT NULL,
	since    INTEGER NOT NULL,
	PRIMARY KEY (user_id, other_id)
) WITHOUT ROWID;

CREATE TABLE blocks (
	blocker    INTEGER NOT NULL,
	blocked    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;
