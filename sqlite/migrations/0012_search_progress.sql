-- Parley schema, version 12: the full-text index catches up with the log.
--
-- Search entries are no longer written in the transaction that appends
-- their messages: the writer keeps the new ones in memory and writes them
-- tens at a time (one FTS5 segment for all of them instead of one
-- per commit), and before anything that reads, changes or removes entries
-- (a search, a recall, an edit, expiry, retention). indexed_through is the
-- highest message id whose entry is written (or that needs none); after a
-- crash the store indexes the messages after it from the log. Until now
-- every message was indexed when appended, so all of them are.
CREATE TABLE search_progress (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	indexed_through INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_through) SELECT 1, coalesce(max(id), 0) FROM messages;
