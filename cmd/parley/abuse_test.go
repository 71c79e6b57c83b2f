package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// postFrom sends a JSON POST as if relayed by a proxy for client addr.
func postFrom(t *testing.T, base, path, addr string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAddressLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.RegisterRate, cfg.RegisterBurst = 0.01, 3
	cfg.LoginRate, cfg.LoginBurst = 0.01, 50
	cfg.LoginFailures = 2
	cfg.TrustedProxies = "127.0.0.1/32"
	m := MustRunMain(t, cfg)
	base := "http://" + m.Addr()
	reg := func(addr, h string) *http.Response {
		return postFrom(t, base, "/v1/users", addr, fmt.Sprintf(`{"handle":%q,"password":"pw-%s-long"}`, h, h))
	}
	t.Run("RegisterPerClientAddress", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			if resp := reg("203.0.113.1", fmt.Sprintf("reg%d", i)); resp.StatusCode != http.StatusCreated {
				t.Fatalf("sign-up %d = %d", i, resp.StatusCode)
			}
		}
		resp := reg("203.0.113.1", "reg3")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sign-up over the burst = %d, want 429", resp.StatusCode)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
		}
		if resp := reg("203.0.113.2", "reg4"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("another client behind the proxy = %d", resp.StatusCode)
		}
	})
	t.Run("LoginOwnerNotLockedOut", func(t *testing.T) {
		login := func(addr, pw string) int {
			return postFrom(t, base, "/v1/sessions", addr, fmt.Sprintf(`{"handle":"reg0","password":%q}`, pw)).StatusCode
		}
		for i := 0; i < 3; i++ {
			login("198.51.100.66", "wrong-password")
		}
		if s := login("198.51.100.66", "pw-reg0-long"); s != http.StatusTooManyRequests {
			t.Fatalf("guesser's address after its failures = %d, want 429", s)
		}
		if s := login("203.0.113.1", "pw-reg0-long"); s != http.StatusCreated {
			t.Fatalf("owner's login from its own address = %d, want 201", s)
		}
	})
}
