-- Parley schema, version 4: session last use and end reasons (the feed of
-- ended sessions every node polls), disabled and deleted accounts, and
-- invite codes. Times are Unix microseconds (UTC).

ALTER TABLE devices ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET last_seen_at = created_at;
ALTER TABLE devices ADD COLUMN end_reason TEXT;
-- The feed of ended sessions reads recent revocations; the expiry sweep
-- reads live sessions by last use and by age.
CREATE INDEX devices_revoked ON devices(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX devices_live_seen ON devices(last_seen_at) WHERE revoked_at IS NULL;
CREATE INDEX devices_live_created ON devices(created_at) WHERE revoked_at IS NULL;

ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;

CREATE TABLE invites (
	id         INTEGER PRIMARY KEY,
	code_hash  BLOB    NOT NULL UNIQUE,
	max_uses   INTEGER NOT NULL,
	uses       INTEGER NOT NULL DEFAULT 0,
	note       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER
);
