package redis

import (
	"context"
	"testing"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/bustest"
	"github.com/parleyhq/parley/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, rueidisLingering...) }

// rueidisLingering are two goroutines of the rueidis cluster client that
// outlive Close for a few seconds and then end: after a topology refresh
// it closes the connections it replaced 5 seconds later, and after a node
// error it refreshes the topology after a delay of up to a second.
var rueidisLingering = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
}

// mustBus opens a bus and closes it when the test ends.
func mustBus(t testing.TB, cfg Config) *Bus {
	t.Helper()
	b, err := NewBus(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBus(t *testing.T) {
	srv := testenv.MustRedis(t)
	bustest.RunBus(t, bustest.BusConfig{
		MultiNode:   true,
		LeakOptions: rueidisLingering,
		NewNode: func(t *testing.T) parley.Bus {
			return mustBus(t, Config{Addrs: []string{srv.Addr()}})
		},
	})
}

func TestBusCluster(t *testing.T) {
	c := testenv.MustRedisCluster(t, 3)
	t.Run("SlotMatchesRedis", func(t *testing.T) {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs()[:1], ForceSingleClient: true, DisableCache: true})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		for _, key := range []string{"u:1", "u:9223372036854775807", "{a}b", "x{}y", "\x00\xff", "parley:presence:{42}"} {
			want, err := client.Do(context.Background(), client.B().ClusterKeyslot().Key(key).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			if got := slot(key); int64(got) != want {
				t.Errorf("slot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
			}
		}
	})
	bustest.RunBus(t, bustest.BusConfig{
		MultiNode:   true,
		LeakOptions: rueidisLingering,
		NewNode: func(t *testing.T) parley.Bus {
			return mustBus(t, Config{Addrs: c.Addrs(), Cluster: true})
		},
	})
}
