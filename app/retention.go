package app

import (
	"context"
	"time"
)

// Prune removes the messages older than the retention period, as of the
// app's clock, and returns how many it removed. With no retention it does
// nothing.
func (a *App) Prune(ctx context.Context) (int64, error) {
	if a.cfg.Retention <= 0 {
		return 0, nil
	}
	return a.store.DeleteMessagesBefore(ctx, a.now.Now().Add(-a.cfg.Retention))
}

// RunRetention prunes at start and then every interval until ctx ends.
// Every node may run it: the stores make concurrent runs safe.
func (a *App) RunRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Warn("retention", "err", err)
		case n > 0:
			a.logger.Info("retention removed old messages", "messages", n, "older_than", a.cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
