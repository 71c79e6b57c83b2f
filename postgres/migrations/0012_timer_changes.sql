-- Parley schema, version 12, for PostgreSQL: a conversation's timer
-- changes by seq.
--
-- An unread count reads entries one by one only where a disappearing-
-- messages timer was on (elsewhere it counts seqs less the silent entries);
-- it finds those spans from the timer changes after the member's read mark
-- and the last one before it, through this index.
CREATE INDEX messages_settings ON messages (conversation_id, seq) WHERE type = 'setting';
