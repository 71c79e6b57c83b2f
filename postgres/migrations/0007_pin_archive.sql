-- Pin and archive: each member's own arrangement of its conversation list.
-- pinned_at is when the member pinned the conversation (NULL: not pinned).
ALTER TABLE members ADD COLUMN pinned_at timestamptz;
ALTER TABLE members ADD COLUMN archived boolean NOT NULL DEFAULT false;
-- A user's few pinned conversations, found without reading its other
-- memberships.
CREATE INDEX members_pinned ON members (user_id, pinned_at) WHERE pinned_at IS NOT NULL;
-- A send unarchives the conversation for its archived members: this finds
-- them without reading the others, and is empty for most conversations.
CREATE INDEX members_archived ON members (conversation_id) WHERE archived;
