-- Parley schema, version 9: disappearing messages. Times are Unix
-- microseconds (UTC).

-- The conversation's timer in seconds (0: off). A message appended while
-- it is on gets expires_at = created_at + the timer, in the transaction
-- that assigns its seq.
ALTER TABLE conversations ADD COLUMN disappear_after INTEGER NOT NULL DEFAULT 0;

-- When a message expires (NULL: never); reads leave expired rows out and
-- the retention job erases them. disappear_after is set on the log entry
-- that records a timer change (type 'setting') only.
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
ALTER TABLE messages ADD COLUMN disappear_after INTEGER;

-- The retention job finds expired messages by time.
CREATE INDEX messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;
