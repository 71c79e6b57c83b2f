-- The title a member saw when it left a group: it keeps seeing the group
-- as it was then. NULL while the member is active.
ALTER TABLE members ADD COLUMN left_title TEXT;
