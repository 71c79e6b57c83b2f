package imaging

import (
	"os/exec"
	"strings"
	"testing"
)

// The app may import this package only because it needs nothing outside
// the standard library and the root package; keep it so.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/parleyhq/parley" && pkg != "github.com/parleyhq/parley/internal/imaging" {
			t.Errorf("imaging depends on %s", pkg)
		}
	}
}
