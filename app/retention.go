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
	every(ctx, interval, func() {
		n, err := a.Prune(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Warn("retention", "err", err)
		case n > 0:
			a.logger.Info("retention removed old messages", "messages", n, "older_than", a.cfg.Retention)
		}
	})
}

// every runs job at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, job func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		job()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expiredBatch is how many expired messages one store call erases.
const expiredBatch = 1000

// EraseExpired erases the messages that expired by the app's clock (reads
// left them out from that moment), then the media they carried that no
// other message carries, with their blobs. It returns how many messages
// it erased.
func (a *App) EraseExpired(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, media, err := a.store.DeleteExpiredMessages(ctx, a.now.Now(), expiredBatch)
		total += n
		if err != nil {
			return total, err
		}
		if len(media) > 0 && a.blobs != nil {
			a.releaseMedia(ctx, media)
		}
		if n < expiredBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// RunExpiry erases expired messages at start and then every interval
// until ctx ends. Every node may run it: an entry two nodes erase at once
// is erased once.
func (a *App) RunExpiry(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		n, err := a.EraseExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Warn("erase expired messages", "err", err)
		case n > 0:
			a.logger.Info("erased expired messages", "messages", n)
		}
	})
}
