-- Parley schema, version 8: full-text search over message text.
--
-- One FTS5 row per indexed log entry (the body of a text message, the
-- caption of an image or file), its rowid the message id. The words are
-- cut by the store (package internal/textsearch: lower-cased, one word per
-- character in scripts written without spaces) and joined with spaces, so
-- the "ascii" tokenizer only splits at those spaces and keeps every other
-- character: the index holds exactly the words the app and the PostgreSQL
-- store use. conv holds the single word c<conversation id>: a search ANDs
-- the caller's conversations into the query, so FTS5 skips other
-- conversations' matches inside the index instead of reading them.
--
-- Contentless: the text lives in messages only; contentless_delete lets a
-- recall or retention delete a row by its rowid. detail=full keeps word
-- positions, which phrases need.
--
-- The store fills the index for the messages already stored in the same
-- transaction as this file (sqlite/search.go, backfillSearch).
CREATE VIRTUAL TABLE message_search USING fts5(
	body, conv,
	content = '', contentless_delete = 1,
	tokenize = 'ascii', detail = full
);
