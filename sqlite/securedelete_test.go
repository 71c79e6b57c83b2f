package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
)

// TestRecalledTextLeavesNoTrace: with secure_delete, the text of a
// recalled message is overwritten in the file, not left in a free page.
func TestRecalledTextLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var users []parley.ID
	for _, h := range []string{"alice", "bob"} {
		u := &parley.User{Handle: h, CreatedAt: now}
		if err := db.CreateUser(ctx, u, "x"); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	d := &parley.Device{UserID: users[0], CreatedAt: now}
	if err := db.CreateDevice(ctx, d, []byte("token-hash")); err != nil {
		t.Fatal(err)
	}
	conv, _, err := db.CreateConversation(ctx, &parley.Conversation{Type: parley.Direct, CreatedBy: users[0], CreatedAt: now},
		[]parley.Member{{UserID: users[0], Role: parley.RoleMember}, {UserID: users[1], Role: parley.RoleMember}}, parley.DirectKey(users[0], users[1]))
	if err != nil {
		t.Fatal(err)
	}
	secret := "the-secret-" + strings.Repeat("Q", 6000)
	m, _, err := db.AppendMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: users[0], SenderDeviceID: d.ID,
		ClientMsgID: "c1", Type: parley.TextMessage, Body: secret, CreatedAt: now}, []byte("h1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Closing moves the text from the write-ahead log into the file.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = sqlite.Open(ctx, sqlite.Config{Path: path}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecallMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: users[0], SenderDeviceID: d.ID,
		ClientMsgID: "c2", Type: parley.RecallEntry, RecallOf: m.ID, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if r, w, err := sqlite.SecureDelete(ctx, db); err != nil || r != 1 || w != 1 {
		t.Fatalf("secure_delete = %d (read), %d (write), %v; want 1", r, w, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s still holds the recalled text", filepath.Base(f))
		}
	}
}
