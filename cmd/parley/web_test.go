package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// webDir is web/, where the client and its browser tests live.
func webDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// MustBrowser returns node and Chromium, failing when either is missing:
// the browser tests are part of CI, not optional. scripts/test installs
// both.
func MustBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js ≥ 18 and run: npm ci --prefix web")
	}
	if _, err := os.Stat(filepath.Join(webDir(t), "node_modules", "playwright-core")); err != nil {
		t.Fatal("web/node_modules is missing; run: npm ci --prefix web")
	}
	for _, c := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"} {
		if c != "" {
			if _, err := os.Stat(c); err == nil {
				return node, c
			}
		}
	}
	if c, err := exec.LookPath("chromium"); err == nil {
		return node, c
	}
	t.Fatal("chromium is not installed; run: apt-get install chromium (scripts/test does)")
	return "", ""
}

// TestWebClient runs the web client's end-to-end tests (web/e2e) in
// headless Chromium against a whole node. With PARLEY_SCREENSHOTS set to a
// directory, they also write the README's screenshots there:
//
//	PARLEY_SCREENSHOTS=$PWD/docs/screenshots go test -run TestWebClient ./cmd/parley
func TestWebClient(t *testing.T) {
	node, chromium := MustBrowser(t)
	m := MustRunMain(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	args := []string{"e2e/run.mjs", "http://" + m.Addr()}
	if only := os.Getenv("PARLEY_E2E_CASES"); only != "" {
		args = append(args, strings.Fields(only)...)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = webDir(t)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests (%s):\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("web/e2e/run.mjs: %v", err)
	}
}
