-- The transaction that wrote each log entry, so a realtime connection can
-- tell which entries were committed after the moment it started receiving
-- events (pg_visible_in_snapshot against a snapshot it took then). Entries
-- written before this migration have none: they are older than any
-- snapshot taken after it.
ALTER TABLE messages ADD COLUMN written_by xid8;
ALTER TABLE messages ALTER COLUMN written_by SET DEFAULT pg_current_xact_id();
