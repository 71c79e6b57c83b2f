-- Parley schema, version 13: the full-text index moves to a file of its own.
--
-- The index now lives beside the store in <path>-search, written by a
-- goroutine of its own that follows the log (sqlite/searchindex.go), so
-- the writer, which every send waits for, no longer spends its time on
-- it. The next start builds the new file from the log.
--
-- deleted_messages holds the ids of messages that expiry or retention
-- deleted, until the index has taken their entries out; its highest id
-- stays, so that new log entries are numbered after every id ever used.
DROP TABLE message_search;
DROP TABLE search_progress;
CREATE TABLE deleted_messages (
	message_id INTEGER PRIMARY KEY
);
