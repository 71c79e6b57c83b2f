package parley

import "context"

type queuedKey struct{}

// WithQueued returns a context carrying fn, which a Store calls once a write
// request made with the context has taken its place in the store's order
// of writes (before it is committed). A caller that must keep several
// writes in order (one connection's sends) submits the next one after fn
// ran, without waiting for the first to commit.
func WithQueued(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, queuedKey{}, fn)
}

// Queued calls the function ctx carries, if any. Stores call it; calling it
// more than once is the caller's fn's business.
func Queued(ctx context.Context) {
	if fn, ok := ctx.Value(queuedKey{}).(func()); ok {
		fn()
	}
}
