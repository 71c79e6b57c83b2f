-- Parley schema, version 11, for PostgreSQL: when a user was last online;
-- NULL when never recorded.
--
-- When a user's last connection closes, the time is recorded here, so a
-- last-seen time outlives the node that saw it (and, with the in-process
-- presence registry, its memory follows the users online, not every user
-- seen since the node started).
ALTER TABLE users ADD COLUMN last_seen_at timestamptz;
