-- Parley schema, version 8, for PostgreSQL: full-text search over message
-- text.
--
-- One row per indexed log entry (the body of a text message, the caption
-- of an image or file), written by the transaction that appends the
-- message and deleted by the one that recalls it. words holds the entry's
-- words as a tsvector with their positions, each word scoped to the
-- message's conversation, <conversation id>_<word>. The store cuts the
-- words itself (package internal/textsearch: lower-cased, one word per
-- character in scripts written without spaces) and writes the tsvector
-- literally, so no text search configuration decides what a word is and
-- both stores hold the same words. A search looks for its words in each
-- conversation the caller may see, so the GIN index returns only those
-- conversations' entries: a common word or a short prefix costs what it
-- matches there.
--
-- The index is a table apart from the log rather than a column of it: the
-- log's daily partitions would make every search look each word up in
-- every partition's GIN index (30 over the retention window). Retention
-- deletes its rows with the log's (created_at); the page's messages are
-- read from the log by (conversation_id, seq, created_at), one partition
-- each.
--
-- The store fills the table for the messages already stored in the same
-- transaction as this file (postgres/search.go, backfillSearch).
CREATE TABLE message_search (
	id              bigint      PRIMARY KEY,
	conversation_id bigint      NOT NULL,
	seq             bigint      NOT NULL,
	created_at      timestamptz NOT NULL,
	words           tsvector    NOT NULL
);
CREATE INDEX message_search_words ON message_search USING gin (words);
CREATE INDEX message_search_created ON message_search (created_at);
