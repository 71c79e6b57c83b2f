package blob

import (
	"os/exec"
	"strings"
	"testing"
)

// The stores speak to disks and S3 with the standard library alone (S3
// signing is written here, see sigv4.go); only tests use gofakes3.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/parleyhq/parley" && pkg != "github.com/parleyhq/parley/blob" {
			t.Errorf("blob depends on %s", pkg)
		}
	}
}
