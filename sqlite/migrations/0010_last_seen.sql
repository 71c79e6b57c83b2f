-- Parley schema, version 10: when a user was last online, in Unix
-- microseconds (UTC); NULL when never recorded.
--
-- The presence registry keeps only the users connected now; when a user's
-- last connection closes, the time is recorded here, so a last-seen time
-- outlives the node that saw it, and the registry's memory follows the
-- users online, not every user seen since the node started.
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
