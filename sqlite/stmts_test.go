package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestReadStmts checks that reads answer the same prepared or not: the
// cache stops at maxReadStmts texts and the reads past it still run, and a
// statement that cannot be prepared reports its error when it runs.
func TestReadStmts(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "parley.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range maxReadStmts + 20 {
		for range 2 { // the second time from the cache, when it holds it
			var got int
			if err := db.queryRowRead(ctx, fmt.Sprintf(`SELECT ? + %d`, i), 1).Scan(&got); err != nil || got != i+1 {
				t.Fatalf("query %d = %d, %v; want %d", i, got, err, i+1)
			}
		}
	}
	db.stmts.mu.RLock()
	n := len(db.stmts.m)
	db.stmts.mu.RUnlock()
	if n != maxReadStmts {
		t.Fatalf("%d statements cached; want %d", n, maxReadStmts)
	}
	db.closeStmts()
	if _, err := db.queryRead(ctx, `SELECT FROM nowhere`); err == nil {
		t.Fatal("a statement that does not parse ran")
	}
	db.stmts.mu.RLock()
	n = len(db.stmts.m)
	db.stmts.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d statements cached after a failed preparation; want 0", n)
	}
}
