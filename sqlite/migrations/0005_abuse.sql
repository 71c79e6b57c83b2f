-- When a member left a group and the title it saw then: it keeps seeing
-- the group as it was at that moment. NULL while the member is active.
ALTER TABLE members ADD COLUMN left_title TEXT;
ALTER TABLE members ADD COLUMN left_at INTEGER;
