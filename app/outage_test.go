package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestOutageLogsOnce checks that a run of failures logs one warning when
// it starts and one line, with the count, when it ends.
func TestOutageLogsOnce(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	o := &outage{what: "bus publish"}
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	o.ok(logger, t0)
	for i := range 50 {
		o.fail(logger, t0.Add(time.Duration(i)*time.Second), errors.New("connection refused"))
	}
	o.ok(logger, t0.Add(time.Minute))
	o.ok(logger, t0.Add(2*time.Minute))
	o.fail(logger, t0.Add(3*time.Minute), errors.New("again"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "recovered") || !strings.Contains(lines[1], "failed=50") || !strings.Contains(lines[1], "lasted=1m0s") {
		t.Errorf("second line: %s", lines[1])
	}
	if !strings.Contains(lines[2], "again") {
		t.Errorf("a new outage is logged again: %s", lines[2])
	}
}
