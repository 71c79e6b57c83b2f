package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

// blobLockSpace is the advisory lock space of blob keys: a transaction
// that uses a key (CreateMedia) and one that claims it for deletion
// (DeleteUnreferencedMedia) hold (blobLockSpace, hashtext(key)), so one
// sees what the other committed. Keys are locked in sorted order.
const blobLockSpace int32 = 0x626c6f62 // "blob"

const mediaCols = `id, owner_id, sha256, size, content_type, filename, width, height, thumbnail_id, thumbnail_of, blob_key, created_at`

func scanMedia(s scanner) (*parley.Media, error) {
	var m parley.Media
	var id, owner int64
	var thumb, of *int64
	if err := s.Scan(&id, &owner, &m.SHA256, &m.Size, &m.ContentType, &m.Filename, &m.Width, &m.Height, &thumb, &of, &m.BlobKey, &m.CreatedAt); err != nil {
		return nil, err
	}
	m.ID, m.OwnerID, m.CreatedAt = parley.ID(id), parley.ID(owner), utc(m.CreatedAt)
	m.ThumbnailID, m.ThumbnailOf = parley.ID(deref(thumb)), parley.ID(deref(of))
	return &m, nil
}

// lockBlobKeys takes the advisory locks of keys, in sorted order.
func lockBlobKeys(ctx context.Context, tx pgx.Tx, keys []string) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, blobLockSpace, k); err != nil {
			return err
		}
	}
	return nil
}

// CreateMedia implements parley.MediaStore.
func (db *DB) CreateMedia(ctx context.Context, m, thumb *parley.Media) error {
	keys := []string{m.BlobKey}
	if thumb != nil {
		keys = append(keys, thumb.BlobKey)
	}
	var ids [2]int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := lockBlobKeys(ctx, tx, keys); err != nil {
			return err
		}
		var claimed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_claims WHERE blob_key = ANY($1))`, keys).Scan(&claimed); err != nil {
			return err
		}
		if claimed {
			return parley.Errorf(parley.ECONFLICT, "blob key is being deleted")
		}
		const insert = `INSERT INTO media (owner_id, sha256, size, content_type, filename, width, height, thumbnail_of, blob_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, 0), $9, $10) RETURNING id`
		if err := tx.QueryRow(ctx, insert, int64(m.OwnerID), m.SHA256, m.Size, m.ContentType, m.Filename, m.Width, m.Height, int64(0), m.BlobKey, micro(m.CreatedAt)).Scan(&ids[0]); err != nil {
			return err
		}
		if thumb == nil {
			return nil
		}
		if err := tx.QueryRow(ctx, insert, int64(thumb.OwnerID), thumb.SHA256, thumb.Size, thumb.ContentType, thumb.Filename, thumb.Width, thumb.Height, ids[0], thumb.BlobKey, micro(thumb.CreatedAt)).Scan(&ids[1]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE media SET thumbnail_id = $2 WHERE id = $1`, ids[0], ids[1])
		return err
	})
	if err != nil {
		return db.err("create media", err)
	}
	m.ID, m.CreatedAt = parley.ID(ids[0]), micro(m.CreatedAt)
	if thumb != nil {
		thumb.ID, thumb.ThumbnailOf, thumb.CreatedAt = parley.ID(ids[1]), m.ID, micro(thumb.CreatedAt)
		m.ThumbnailID = thumb.ID
	}
	return nil
}

// Media implements parley.MediaStore.
func (db *DB) Media(ctx context.Context, id parley.ID) (*parley.Media, error) {
	m, err := scanMedia(db.pool.QueryRow(ctx, `SELECT `+mediaCols+` FROM media WHERE id = $1`, int64(id)))
	if err != nil {
		return nil, db.notFound("read media", err, "media not found")
	}
	return m, nil
}

// MediaByIDs implements parley.MediaStore.
func (db *DB) MediaByIDs(ctx context.Context, ids []parley.ID) ([]*parley.Media, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+mediaCols+` FROM media WHERE id = ANY($1)`, idArray(ids))
	if err != nil {
		return nil, db.err("read media", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Media, error) { return scanMedia(r) })
	if err != nil {
		return nil, db.err("read media", err)
	}
	return out, nil
}

// MediaReferences implements parley.MediaStore.
func (db *DB) MediaReferences(ctx context.Context, mediaID, userID parley.ID, limit int) ([]parley.MediaReference, error) {
	rows, err := db.pool.Query(ctx, `SELECT msg.conversation_id, msg.seq, msg.expires_at, `+memberCols+`
		FROM messages msg JOIN members m ON m.conversation_id = msg.conversation_id AND m.user_id = $1
		WHERE msg.media_id = $2 LIMIT $3`, int64(userID), int64(mediaID), limit)
	if err != nil {
		return nil, db.err("read media references", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.MediaReference, error) {
		var r parley.MediaReference
		var conv int64
		dest, fill := memberDest(&r.Member)
		if err := row.Scan(append([]any{&conv, &r.Seq, &r.ExpiresAt}, dest...)...); err != nil {
			return r, err
		}
		fill()
		r.ExpiresAt = utcPtr(r.ExpiresAt)
		r.ConversationID = parley.ID(conv)
		return r, nil
	})
	if err != nil {
		return nil, db.err("read media references", err)
	}
	return out, nil
}

// DeleteUnreferencedMedia implements parley.MediaStore. Candidates are
// found and checked against the log before the transaction, which then
// re-checks and deletes the few that look unreferenced.
func (db *DB) DeleteUnreferencedMedia(ctx context.Context, c parley.MediaCollection) (parley.MediaCollected, error) {
	var out parley.MediaCollected
	limit := c.Limit
	if limit <= 0 {
		limit = 500
	}
	cands := idArray(c.IDs)
	if len(c.IDs) == 0 {
		rows, err := db.pool.Query(ctx, `SELECT id FROM media WHERE id > $1 AND thumbnail_of IS NULL AND created_at < $2 ORDER BY id LIMIT $3`,
			int64(c.AfterID), c.CreatedBefore, limit)
		if err != nil {
			return out, db.err("find old media", err)
		}
		if cands, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return out, db.err("find old media", err)
		}
		if len(cands) == limit {
			out.Next = parley.ID(cands[len(cands)-1])
		}
	}
	if len(cands) > 0 {
		rows, err := db.pool.Query(ctx, `SELECT DISTINCT media_id FROM messages WHERE media_id = ANY($1)`, cands)
		if err != nil {
			return out, db.err("find media references", err)
		}
		used, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return out, db.err("find media references", err)
		}
		cands = slices.DeleteFunc(cands, func(id int64) bool { return slices.Contains(used, id) })
	}
	if len(cands) == 0 && c.ReclaimBefore.IsZero() {
		return out, nil
	}
	now := micro(c.Now)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		out.Deleted, out.BlobKeys = 0, nil
		var keys []string
		var deleted []int64
		if len(cands) > 0 {
			rows, err := tx.Query(ctx, `DELETE FROM media WHERE id = ANY($1) AND thumbnail_of IS NULL
				AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id) RETURNING id, blob_key`, cands)
			if err != nil {
				return err
			}
			var id int64
			var key string
			if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
				deleted, keys = append(deleted, id), append(keys, key)
				return nil
			}); err != nil {
				return err
			}
		}
		if len(deleted) > 0 {
			rows, err := tx.Query(ctx, `DELETE FROM media WHERE thumbnail_of = ANY($1) RETURNING blob_key`, deleted)
			if err != nil {
				return err
			}
			thumbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			keys = append(keys, thumbs...)
		}
		out.Deleted = len(deleted)
		if err := lockBlobKeys(ctx, tx, keys); err != nil {
			return err
		}
		if len(keys) > 0 {
			rows, err := tx.Query(ctx, `INSERT INTO blob_claims (blob_key, claimed_at)
				SELECT DISTINCT k, $2::timestamptz FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM media WHERE blob_key = k)
				ON CONFLICT (blob_key) DO NOTHING RETURNING blob_key`, keys, now)
			if err != nil {
				return err
			}
			claimed, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			out.BlobKeys = append(out.BlobKeys, claimed...)
		}
		if c.ReclaimBefore.IsZero() {
			return nil
		}
		rows, err := tx.Query(ctx, `UPDATE blob_claims SET claimed_at = $1 WHERE claimed_at < $2 RETURNING blob_key`, now, micro(c.ReclaimBefore))
		if err != nil {
			return err
		}
		again, err := pgx.CollectRows(rows, pgx.RowTo[string])
		out.BlobKeys = append(out.BlobKeys, again...)
		return err
	})
	if err != nil {
		return parley.MediaCollected{}, db.err("delete unreferenced media", err)
	}
	return out, nil
}

// ReleaseBlobKeys implements parley.MediaStore.
func (db *DB) ReleaseBlobKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM blob_claims WHERE blob_key = ANY($1)`, keys); err != nil {
		return db.err("release blob keys", err)
	}
	return nil
}
