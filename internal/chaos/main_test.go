package chaos_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testenv"
)

var (
	seedFlag     = flag.Uint64("chaos.seed", 0, "seed of the randomized workload and faults (0: PARLEY_CHAOS_SEED, else random)")
	durationFlag = flag.Duration("chaos.duration", 0, "how long each configuration runs its workload under faults (0: PARLEY_CHAOS_DURATION, else a short CI run)")
)

// ciDuration is the workload's length when none is asked for: each
// configuration then finishes well within a minute, set-up and checks
// included.
const ciDuration = 12 * time.Second

func TestMain(m *testing.M) { testenv.Main(m) }

// chaosSeed returns the seed to run with: the flag, the environment, or a
// fresh random one.
func chaosSeed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("PARLEY_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_CHAOS_SEED=%q: %v", s, err)
		}
		return v
	}
	return rand.Uint64()%1_000_000_000 + 1
}

func chaosDuration(t *testing.T) time.Duration {
	if *durationFlag > 0 {
		return *durationFlag
	}
	if s := os.Getenv("PARLEY_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PARLEY_CHAOS_DURATION=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return ciDuration / 2
	}
	return ciDuration
}

// replay is the command that runs a test again with the same seed.
func replay(t *testing.T, seed uint64, d time.Duration) string {
	return fmt.Sprintf("go test ./internal/chaos -run '^%s$' -chaos.seed %d -chaos.duration %s", t.Name(), seed, d)
}
