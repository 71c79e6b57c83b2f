package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/parleyhq/parley"
)

const mediaCols = `id, owner_id, sha256, size, content_type, filename, width, height, thumbnail_id, thumbnail_of, blob_key, created_at`

func scanMedia(s scanner) (*parley.Media, error) {
	var m parley.Media
	var id, owner, created int64
	var thumb, of sql.NullInt64
	if err := s.Scan(&id, &owner, &m.SHA256, &m.Size, &m.ContentType, &m.Filename, &m.Width, &m.Height, &thumb, &of, &m.BlobKey, &created); err != nil {
		return nil, err
	}
	m.ID, m.OwnerID, m.CreatedAt = parley.ID(id), parley.ID(owner), fromTS(created)
	m.ThumbnailID, m.ThumbnailOf = parley.ID(thumb.Int64), parley.ID(of.Int64)
	return &m, nil
}

// jsonList encodes ids or keys for json_each: one statement text whatever
// the list's length, so the writer's statement cache stays small.
func jsonList[T any](v []T) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func int64s(ids []parley.ID) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// CreateMedia implements parley.MediaStore.
func (db *DB) CreateMedia(ctx context.Context, m, thumb *parley.Media) error {
	keys := []string{m.BlobKey}
	if thumb != nil {
		keys = append(keys, thumb.BlobKey)
	}
	// The ids are handed over only once the batch committed: a caller that
	// gave up waiting may no longer be reading m.
	var ids [2]int64
	err := db.w.do(ctx, func(b *batch) error {
		var claimed int
		if err := b.queryRow(`SELECT count(*) FROM blob_claims WHERE blob_key IN (SELECT value FROM json_each(?))`, jsonList(keys)).Scan(&claimed); err != nil {
			return fmt.Errorf("check blob claims: %w", err)
		}
		if claimed > 0 {
			return parley.Errorf(parley.ECONFLICT, "blob key is being deleted")
		}
		insert := func(x *parley.Media, of int64) (int64, error) {
			var id int64
			err := b.queryRow(`INSERT INTO media (owner_id, sha256, size, content_type, filename, width, height, thumbnail_of, blob_key, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				int64(x.OwnerID), x.SHA256, x.Size, x.ContentType, x.Filename, x.Width, x.Height, nullID(parley.ID(of)), x.BlobKey, ts(x.CreatedAt)).Scan(&id)
			if err != nil {
				return 0, fmt.Errorf("insert media: %w", err)
			}
			return id, nil
		}
		var err error
		if ids[0], err = insert(m, 0); err != nil || thumb == nil {
			return err
		}
		if ids[1], err = insert(thumb, ids[0]); err != nil {
			return err
		}
		if _, err := b.exec(`UPDATE media SET thumbnail_id = ? WHERE id = ?`, ids[1], ids[0]); err != nil {
			return fmt.Errorf("link thumbnail: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.ID = parley.ID(ids[0])
	if thumb != nil {
		thumb.ID, thumb.ThumbnailOf, m.ThumbnailID = parley.ID(ids[1]), m.ID, parley.ID(ids[1])
	}
	return nil
}

// Media implements parley.MediaStore.
func (db *DB) Media(ctx context.Context, id parley.ID) (*parley.Media, error) {
	m, err := scanMedia(db.queryRowRead(ctx, `SELECT `+mediaCols+` FROM media WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "media not found")
	}
	return m, nil
}

// MediaByIDs implements parley.MediaStore.
func (db *DB) MediaByIDs(ctx context.Context, ids []parley.ID) ([]*parley.Media, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.queryRead(ctx, `SELECT `+mediaCols+` FROM media WHERE id IN (SELECT value FROM json_each(?))`, jsonList(int64s(ids)))
	if err != nil {
		return nil, dbError("read media", err)
	}
	return collect(rows, "read media", scanMedia)
}

// MediaReferences implements parley.MediaStore.
func (db *DB) MediaReferences(ctx context.Context, mediaID, userID parley.ID, limit int) ([]parley.MediaReference, error) {
	rows, err := db.queryRead(ctx, `SELECT msg.conversation_id, msg.seq, msg.expires_at, `+memberCols+`
		FROM messages msg JOIN members m ON m.conversation_id = msg.conversation_id AND m.user_id = ?
		WHERE msg.media_id = ? LIMIT ?`, int64(userID), int64(mediaID), limit)
	if err != nil {
		return nil, dbError("read media references", err)
	}
	defer rows.Close()
	var out []parley.MediaReference
	for rows.Next() {
		var r parley.MediaReference
		var conv int64
		var expires sql.NullInt64
		dest, fill := memberDest(&r.Member)
		if err := rows.Scan(append([]any{&conv, &r.Seq, &expires}, dest...)...); err != nil {
			return nil, err
		}
		fill()
		r.ExpiresAt = fromNullTS(expires)
		r.ConversationID = parley.ID(conv)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteUnreferencedMedia implements parley.MediaStore. Candidates are
// found and checked against the log on a read connection, so the writer
// only re-checks and deletes the few that look unreferenced.
func (db *DB) DeleteUnreferencedMedia(ctx context.Context, c parley.MediaCollection) (parley.MediaCollected, error) {
	var out parley.MediaCollected
	limit := c.Limit
	if limit <= 0 {
		limit = 500
	}
	cands := int64s(c.IDs)
	if len(c.IDs) == 0 {
		rows, err := db.queryRead(ctx, `SELECT id FROM media WHERE id > ? AND thumbnail_of IS NULL AND created_at < ? ORDER BY id LIMIT ?`,
			int64(c.AfterID), ts(c.CreatedBefore), limit)
		if err != nil {
			return out, fmt.Errorf("find old media: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return out, err
			}
			cands = append(cands, id)
		}
		if err := rows.Close(); err != nil {
			return out, err
		}
		if len(cands) == limit {
			out.Next = parley.ID(cands[len(cands)-1])
		}
	}
	if len(cands) > 0 {
		rows, err := db.queryRead(ctx, `SELECT DISTINCT media_id FROM messages WHERE media_id IN (SELECT value FROM json_each(?))`, jsonList(cands))
		if err != nil {
			return out, fmt.Errorf("find media references: %w", err)
		}
		var used []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return out, err
			}
			used = append(used, id)
		}
		if err := rows.Close(); err != nil {
			return out, err
		}
		cands = slices.DeleteFunc(cands, func(id int64) bool { return slices.Contains(used, id) })
	}
	if len(cands) == 0 && c.ReclaimBefore.IsZero() {
		return out, nil
	}
	err := db.w.do(ctx, func(b *batch) error {
		out.Deleted, out.BlobKeys = 0, nil
		// The log may hold entries this batch has not written yet.
		if err := b.insertPending(); err != nil {
			return err
		}
		var keys, thumbs []string
		var deleted []int64
		if len(cands) > 0 {
			err := b.collect(`DELETE FROM media WHERE id IN (SELECT value FROM json_each(?)) AND thumbnail_of IS NULL
				AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id) RETURNING id, blob_key`,
				[]any{jsonList(cands)}, func(rows *sql.Rows) error {
					var id int64
					var key string
					if err := rows.Scan(&id, &key); err != nil {
						return err
					}
					deleted, keys = append(deleted, id), append(keys, key)
					return nil
				})
			if err != nil {
				return fmt.Errorf("delete media: %w", err)
			}
		}
		if len(deleted) > 0 {
			err := b.collect(`DELETE FROM media WHERE thumbnail_of IN (SELECT value FROM json_each(?)) RETURNING blob_key`,
				[]any{jsonList(deleted)}, func(rows *sql.Rows) error {
					var key string
					err := rows.Scan(&key)
					thumbs = append(thumbs, key)
					return err
				})
			if err != nil {
				return fmt.Errorf("delete thumbnails: %w", err)
			}
		}
		out.Deleted = len(deleted)
		keys = append(keys, thumbs...)
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			var used int
			if err := b.queryRow(`SELECT count(*) FROM media WHERE blob_key = ?`, k).Scan(&used); err != nil {
				return fmt.Errorf("count blob users: %w", err)
			}
			if used > 0 {
				continue
			}
			res, err := b.exec(`INSERT INTO blob_claims (blob_key, claimed_at) VALUES (?, ?) ON CONFLICT (blob_key) DO NOTHING`, k, ts(c.Now))
			if err != nil {
				return fmt.Errorf("claim blob key: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				out.BlobKeys = append(out.BlobKeys, k)
			}
		}
		if c.ReclaimBefore.IsZero() {
			return nil
		}
		return b.collect(`UPDATE blob_claims SET claimed_at = ? WHERE claimed_at < ? RETURNING blob_key`,
			[]any{ts(c.Now), ts(c.ReclaimBefore)}, func(rows *sql.Rows) error {
				var key string
				err := rows.Scan(&key)
				out.BlobKeys = append(out.BlobKeys, key)
				return err
			})
	})
	if err != nil {
		// The batch may still run after a caller that gave up: its
		// results are not to be read then.
		return parley.MediaCollected{}, err
	}
	return out, nil
}

// ReleaseBlobKeys implements parley.MediaStore.
func (db *DB) ReleaseBlobKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return db.w.do(ctx, func(b *batch) error {
		if _, err := b.exec(`DELETE FROM blob_claims WHERE blob_key IN (SELECT value FROM json_each(?))`, jsonList(keys)); err != nil {
			return fmt.Errorf("release blob keys: %w", err)
		}
		return nil
	})
}

// collect runs a statement that returns rows in the batch's transaction
// and calls fn for each row.
func (b *batch) collect(query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := b.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
