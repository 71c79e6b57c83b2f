package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary act as the parley program itself, so the
// crash test can run a real server in a child process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_TEST_CHILD") == "serve" {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		if err := Run(ctx, os.Args[1:], os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testConfig returns the defaults for a test node: loopback on a free
// port, data in a temp dir, cheap password hashing.
func testConfig(tb testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = tb.TempDir()
	cfg.Argon2MemoryKiB, cfg.Argon2Time = 64, 1
	cfg.LogLevel = "warn"
	cfg.SendRate, cfg.LoginRate, cfg.EventRate = 0, 0, 0 // tests send in bursts; TestRateLimit checks the limits
	cfg.UserEventRate = 0
	cfg.MaxSocketsPerAddr = 1 << 20 // every test client is 127.0.0.1; the hostile suite checks the cap
	cfg.RegisterRate, cfg.LoginFailures = 0, 0
	return cfg
}

// MustRunMain starts a whole node and stops it at cleanup.
func MustRunMain(tb testing.TB, cfg Config) *Main {
	tb.Helper()
	m := NewMain()
	m.Config = cfg
	m.Stderr = io.Discard
	if err := m.Config.Validate(); err != nil {
		tb.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return m
}

// client talks to a node over HTTP.
type client struct {
	tb    testing.TB
	base  string
	token string
	// record, when set, hears every answer (see openAPIRecorder).
	record func(method, path string, status int, contentType string, body []byte)
}

func newClient(tb testing.TB, addr string) *client {
	return &client{tb: tb, base: "http://" + addr}
}

func (c *client) with(token string) *client { cp := *c; cp.token = token; return &cp }

// bind makes the clients report to tb (a subtest) until the returned
// function puts their previous test back.
func bind(tb testing.TB, cs ...*client) func() {
	old := make([]testing.TB, len(cs))
	for i, c := range cs {
		old[i], c.tb = c.tb, tb
	}
	return func() {
		for i, c := range cs {
			c.tb = old[i]
		}
	}
}

// raw sends a request with a literal body and returns the status and body.
func (c *client) raw(method, path string, body []byte) (int, []byte) {
	c.tb.Helper()
	status, b, err := c.try(method, path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return status, b
}

// try is raw that returns transport errors instead of failing.
func (c *client) try(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && c.record != nil {
		c.record(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp.StatusCode, b, err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// nopTB is for helpers used outside a test's goroutine; they never call it.
type nopTB struct{ testing.TB }

// do sends v as JSON (nil for no body) and decodes the answer into out
// (when not nil), returning the status.
func (c *client) do(method, path string, v, out any) int {
	c.tb.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.tb.Fatal(err)
		}
	}
	status, b := c.raw(method, path, body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.tb.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return status
}

// want asserts a status and, for errors, the error code.
func (c *client) want(method, path string, v any, status int, code string) {
	c.tb.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	got := c.do(method, path, v, &e)
	if got != status || e.Error.Code != code {
		c.tb.Fatalf("%s %s = %d %q (%s), want %d %q", method, path, got, e.Error.Code, e.Error.Message, status, code)
	}
}

type session struct {
	Token    string `json:"token"`
	DeviceID string `json:"device_id"`
	User     struct {
		ID     string `json:"id"`
		Handle string `json:"handle"`
	} `json:"user"`
}

// mustSignUp registers a user and logs it in.
func (c *client) mustSignUp(handle string) (*client, session) {
	c.tb.Helper()
	if s := c.do("POST", "/v1/users", map[string]string{"handle": handle, "password": "pw-" + handle + "-long"}, nil); s != http.StatusCreated {
		c.tb.Fatalf("register %s: %d", handle, s)
	}
	var sess session
	if s := c.do("POST", "/v1/sessions", map[string]string{"handle": handle, "password": "pw-" + handle + "-long", "device_name": "test"}, &sess); s != http.StatusCreated {
		c.tb.Fatalf("login %s: %d", handle, s)
	}
	return c.with(sess.Token), sess
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
