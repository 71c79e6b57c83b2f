-- Parley schema, version 10, for PostgreSQL: the newest search entries of
-- a conversation in order.
--
-- A search first reads the newest entries of each conversation searched,
-- newest first, and checks their words: when the words are common there,
-- the page is found among them without reading every match the GIN index
-- returns (postgres/search.go). It falls back to the GIN index when they
-- do not settle the page.
CREATE INDEX message_search_recent ON message_search (conversation_id, created_at, id);
