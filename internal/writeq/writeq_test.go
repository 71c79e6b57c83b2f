package writeq

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func TestQueue(t *testing.T) {
	t.Run("OrderAndGroups", func(t *testing.T) {
		q := New[int](8)
		queued := 0
		for i := range 5 {
			if err := q.Put(context.Background(), i, func() { queued++ }); err != nil {
				t.Fatal(err)
			}
		}
		if queued != 5 {
			t.Fatalf("queued called %d times, want 5", queued)
		}
		g, ok := q.Take(nil, 3)
		if !ok || len(g) != 3 || g[0] != 0 || g[2] != 2 {
			t.Fatalf("first group = %v, %v", g, ok)
		}
		g, ok = q.Take(g, 3)
		if !ok || len(g) != 2 || g[0] != 3 || g[1] != 4 {
			t.Fatalf("second group = %v, %v", g, ok)
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		q := New[int](1)
		q.Put(context.Background(), 1, nil)
		if !q.Close() || q.Close() {
			t.Fatal("Close did not report the first close only")
		}
		called := false
		if err := q.Put(context.Background(), 2, func() { called = true }); err != ErrClosed || !called {
			t.Fatalf("Put after Close = %v (queued called: %v)", err, called)
		}
		if g, ok := q.Take(nil, 4); !ok || len(g) != 1 {
			t.Fatalf("a request queued before Close was lost: %v %v", g, ok)
		}
		if _, ok := q.Take(nil, 4); ok {
			t.Fatal("Take on a closed, drained queue reported a group")
		}
	})
	t.Run("ErrFullUntilDeadline", func(t *testing.T) {
		q := New[int](1)
		q.Put(context.Background(), 1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		called := false
		err := q.Put(ctx, 2, func() { called = true })
		if parley.ErrorCode(err) != parley.EUNAVAILABLE || !called {
			t.Fatalf("Put on a full queue = %v (queued called: %v)", err, called)
		}
	})
}
