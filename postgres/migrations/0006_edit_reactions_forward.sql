-- Edits, reactions and forwards. An edit or a reaction is a log entry of
-- its own (edit_of / reaction_of name the original); the original keeps
-- the latest body and when it was edited, and the reactions table keeps
-- each member's current reaction so a page of history reads them with one
-- index lookup instead of one per daily partition. message_created_at
-- lets retention remove reactions with their messages.
ALTER TABLE messages ADD COLUMN edit_of bigint;
ALTER TABLE messages ADD COLUMN reaction_of bigint;
ALTER TABLE messages ADD COLUMN forwarded boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN edited_at timestamptz;
-- A recall erases the bodies of the original's edits too.
CREATE INDEX messages_edit_of ON messages (edit_of) WHERE edit_of IS NOT NULL;
-- Edits and reactions do not count as unread: counting them in a range of
-- the log reads only their own entries.
CREATE INDEX messages_silent ON messages (conversation_id, seq) WHERE type IN ('edit', 'reaction', 'setting');

CREATE TABLE reactions (
	message_id         bigint      NOT NULL,
	user_id            bigint      NOT NULL,
	emoji              text        NOT NULL,
	seq                bigint      NOT NULL,
	message_created_at timestamptz NOT NULL,
	PRIMARY KEY (message_id, user_id)
);
CREATE INDEX reactions_created ON reactions (message_created_at);
