-- Parley schema, version 9, for PostgreSQL: disappearing messages.

-- The conversation's timer in seconds (0: off). A message appended while
-- it is on gets expires_at = created_at + the timer, in the transaction
-- that assigns its seq (under the conversation row's lock).
ALTER TABLE conversations ADD COLUMN disappear_after bigint NOT NULL DEFAULT 0;

-- When a message expires (NULL: never); reads leave expired rows out and
-- the retention job erases them. disappear_after is set on the log entry
-- that records a timer change (type 'setting') only.
ALTER TABLE messages ADD COLUMN expires_at timestamptz;
ALTER TABLE messages ADD COLUMN disappear_after bigint;

-- The retention job finds expired messages by time; created on every
-- daily partition, present and to come.
CREATE INDEX messages_expires ON messages (expires_at) WHERE expires_at IS NOT NULL;
