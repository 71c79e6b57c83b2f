-- Parley schema, version 8, for PostgreSQL: full-text search over message
-- text.
--
-- search holds the words of an indexed log entry (the body of a text
-- message, the caption of an image or file) as a tsvector with their
-- positions, each word scoped to the message's conversation,
-- <conversation id>_<word>. The store cuts the words itself (package
-- internal/textsearch: lower-cased, one word per character in scripts
-- written without spaces) and writes the tsvector literally, so no text
-- search configuration decides what a word is and both stores hold the
-- same words. A search looks for its words in each conversation the caller
-- may see, so the GIN index returns only those conversations' entries: a
-- common word or a short prefix costs what it matches there. NULL for
-- entries that are not indexed and for recalled ones.
--
-- The GIN index is created on every daily partition, present and to come.
-- The store fills the column for the messages already stored in the same
-- transaction as this file (postgres/search.go, backfillSearch).
ALTER TABLE messages ADD COLUMN search tsvector;
CREATE INDEX messages_search ON messages USING gin (search) WHERE search IS NOT NULL;
