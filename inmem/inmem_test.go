package inmem_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/bustest"
	"github.com/parleyhq/parley/inmem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBus(t *testing.T) {
	bustest.RunBus(t, bustest.BusConfig{
		NewNode: func(t *testing.T) parley.Bus { return inmem.NewBus() },
	})
}

func TestPresence(t *testing.T) {
	bustest.RunPresence(t, bustest.PresenceConfig{
		NewNode: func(t *testing.T) parley.Presence { return inmem.NewPresence() },
	})
}

// TestPresenceHoldsOnlyConnectedUsers: the registry's memory follows the
// users online, not every user it has seen.
func TestPresenceHoldsOnlyConnectedUsers(t *testing.T) {
	ctx := context.Background()
	p := inmem.NewPresence()
	const users = 10_000
	for id := range parley.ID(users) {
		p.Connect(ctx, id+1)
		p.Connect(ctx, id+1)
	}
	for id := range parley.ID(users) {
		p.Disconnect(ctx, id+1, time.Time{})
	}
	if n := p.Users(); n != users {
		t.Fatalf("after one of two connections closed: %d users held, want %d", n, users)
	}
	for id := range parley.ID(users - 1) {
		p.Disconnect(ctx, id+1, time.Time{})
	}
	if n := p.Users(); n != 1 {
		t.Fatalf("%d users held with one connected", n)
	}
	if st, _ := p.Status(ctx, []parley.ID{1, users}); st[0].Online || !st[1].Online {
		t.Fatalf("statuses = %+v", st)
	}
}

func BenchmarkPublish(b *testing.B) {
	bus := inmem.NewBus()
	defer bus.Close()
	const topics = 1000
	names := make([]string, topics)
	for i := range names {
		names[i] = "u:" + strconv.Itoa(i)
		if _, err := bus.Subscribe(context.Background(), names[i], func([]byte) {}); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bus.Publish(context.Background(), names[i%topics], payload)
			i++
		}
	})
}

// BenchmarkSubscriptionMemory reports the heap used per subscription, each
// on a topic of its own (a user topic per connected user). Run it with a
// fixed count, e.g. -benchtime=1000000x.
func BenchmarkSubscriptionMemory(b *testing.B) {
	bus := inmem.NewBus()
	defer bus.Close()
	names := make([]string, b.N)
	for i := range names {
		names[i] = "u:" + strconv.Itoa(1_000_000_000+i)
	}
	fn := func([]byte) {}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	subs := make([]parley.Subscription, b.N)
	for i := range b.N {
		s, err := bus.Subscribe(context.Background(), names[i], fn)
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = s
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSub := float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N) - 16 // less the subs slice entry
	b.ReportMetric(perSub, "heap-B/subscription")
	runtime.KeepAlive(subs)
}
