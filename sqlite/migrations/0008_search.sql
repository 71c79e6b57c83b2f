-- Parley schema, version 8: full-text search over message text.
--
-- One FTS5 row per indexed log entry (the body of a text message, the
-- caption of an image or file), its rowid the message id. The store cuts
-- the words (package internal/textsearch: lower-cased, one word per
-- character in scripts written without spaces) and writes each scoped to
-- the message's conversation, <conversation id>_<word>, joined by spaces;
-- the "ascii" tokenizer with '_' as a token character only splits at those
-- spaces and keeps every other character, so the index holds exactly the
-- words the app and the PostgreSQL store use. A search looks for its words
-- in each conversation the caller may see: FTS5 reads only those
-- conversations' entries, so a common word or a short prefix costs what it
-- matches there, not in the whole store.
--
-- Contentless: the text lives in messages only; contentless_delete lets a
-- recall or retention delete a row by its rowid. detail=full keeps word
-- positions, which phrases need.
--
-- The store fills the index for the messages already stored in the same
-- transaction as this file (sqlite/search.go, backfillSearch).
CREATE VIRTUAL TABLE message_search USING fts5(
	body,
	content = '', contentless_delete = 1,
	tokenize = "ascii tokenchars '_'", detail = full
);
