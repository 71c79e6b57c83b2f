package blob

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: stores and fake services are
// closed in cleanups.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
