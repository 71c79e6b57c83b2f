-- Parley schema, version 2: media, push registrations, and the push
-- previews setting. Times are Unix microseconds (UTC).

ALTER TABLE users ADD COLUMN push_previews INTEGER NOT NULL DEFAULT 1;

-- Uploaded media. Bytes live in the blob store under blob_key (the hex
-- SHA-256 of the content, so identical uploads share one blob); a blob is
-- deleted only when no row uses its key. A thumbnail is a row of its own
-- with thumbnail_of set; it is deleted with what it previews.
CREATE TABLE media (
	id           INTEGER PRIMARY KEY,
	owner_id     INTEGER NOT NULL,
	sha256       TEXT    NOT NULL,
	size         INTEGER NOT NULL,
	content_type TEXT    NOT NULL,
	filename     TEXT    NOT NULL DEFAULT '',
	width        INTEGER NOT NULL DEFAULT 0,
	height       INTEGER NOT NULL DEFAULT 0,
	thumbnail_id INTEGER,
	thumbnail_of INTEGER,
	blob_key     TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX media_blob_key ON media(blob_key);
CREATE INDEX media_thumbnail_of ON media(thumbnail_of) WHERE thumbnail_of IS NOT NULL;

-- Blob keys claimed for deletion: no media uses them and their blobs are
-- being deleted, so a new upload of the same bytes takes another key.
CREATE TABLE blob_claims (
	blob_key   TEXT    PRIMARY KEY,
	claimed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Which log entries carry a media object: for who may see it, and whether
-- anything still does. Text messages have no media and no index entry.
CREATE INDEX messages_media ON messages(media_id) WHERE media_id IS NOT NULL;

-- A device's addresses on push channels. An address (kind, endpoint)
-- belongs to one device at a time.
CREATE TABLE push_registrations (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL,
	device_id  INTEGER NOT NULL,
	kind       TEXT    NOT NULL,
	endpoint   TEXT    NOT NULL,
	p256dh     TEXT    NOT NULL DEFAULT '',
	auth       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	UNIQUE (kind, endpoint)
);
CREATE INDEX push_registrations_user ON push_registrations(user_id);
CREATE INDEX push_registrations_device ON push_registrations(device_id);
