package realtime

import (
	"testing"

	"go.uber.org/goleak"
)

// Timers of a closed connection must not outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
