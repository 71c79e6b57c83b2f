package main

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
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

func TestHTTPBodyLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.BodyGrace, cfg.MinBodyRate = 300*time.Millisecond, 1<<10
	m := MustRunMain(t, cfg)
	alice, _ := newClient(t, m.Addr()).mustSignUp("alice")
	t.Run("TrickledBodyCut", func(t *testing.T) {
		// One byte every 100 ms: far below 1 KiB/s once the grace is over.
		status, b, err := trickle(m.Addr(), alice.token, "/v1/media")
		if err != nil {
			t.Fatalf("no answer to a trickled body: %v", err)
		}
		if status != http.StatusBadRequest || !strings.Contains(string(b), "too slowly") {
			t.Fatalf("trickled body = %d %s, want 400 invalid", status, b)
		}
	})
	t.Run("MultipartFieldTooLarge", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("caption", strings.Repeat("x", 2000))
		fw, _ := mw.CreateFormFile("file", "a.txt")
		fw.Write([]byte("hello"))
		mw.Close()
		resp, b := alice.request("POST", "/v1/media", &body, http.Header{"Content-Type": {mw.FormDataContentType()}})
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"too_large"`) {
			t.Fatalf("large form field = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("MultipartTooManyParts", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for i := 0; i < 20; i++ {
			mw.WriteField(fmt.Sprintf("f%d", i), "x")
		}
		fw, _ := mw.CreateFormFile("file", "a.txt")
		fw.Write([]byte("hello"))
		mw.Close()
		resp, b := alice.request("POST", "/v1/media", &body, http.Header{"Content-Type": {mw.FormDataContentType()}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "at most") {
			t.Fatalf("many form parts = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("OneRangeHonoured", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789"), 1000)
		md := alice.mustUpload(data, "digits.txt")
		resp, b := alice.request("GET", "/v1/media/"+md.ID, nil, http.Header{"Range": {"bytes=10-19"}})
		if resp.StatusCode != http.StatusPartialContent || string(b) != "0123456789" {
			t.Fatalf("one range = %d %q", resp.StatusCode, b)
		}
		var ranges []string
		for i := 0; i < 1000; i++ {
			ranges = append(ranges, fmt.Sprintf("%d-%d", i*5, i*5))
		}
		resp, b = alice.request("GET", "/v1/media/"+md.ID, nil, http.Header{"Range": {"bytes=" + strings.Join(ranges, ",")}})
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, data) {
			t.Fatalf("1,000 ranges = %d (%d bytes), want 200 with the whole content", resp.StatusCode, len(b))
		}
	})
}

func TestHTTPInvalidUTF8(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	status, b := anon.raw("POST", "/v1/users", []byte("{\"handle\":\"al\xffice\",\"password\":\"long enough\"}"))
	if status != http.StatusBadRequest || !strings.Contains(string(b), `"invalid"`) || !strings.Contains(string(b), "UTF-8") {
		t.Fatalf("invalid UTF-8 = %d %s, want 400 invalid", status, b)
	}
	status, b = anon.raw("POST", "/v1/users", []byte(`{"handle":5,"password":"long enough"}`))
	if status != http.StatusBadRequest || strings.Contains(string(b), "Go ") || strings.Contains(string(b), "parley.") || strings.Contains(string(b), "code=") {
		t.Fatalf("wrong type = %d %s", status, b)
	}
}

func TestOwnOriginAlwaysAllowed(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedOrigins = "https://app.example"
	m := MustRunMain(t, cfg)
	handshake := func(origin string) int {
		req, _ := http.NewRequest("GET", "http://"+m.Addr()+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"http://" + m.Addr(), true}, {"https://app.example", true}, {"https://evil.example", false}} {
		if got := handshake(tc.origin); (got == http.StatusOK) != tc.ok {
			t.Errorf("handshake from %s = %d, want allowed=%v", tc.origin, got, tc.ok)
		}
	}
}

func TestArgon2Concurrency(t *testing.T) {
	for _, tc := range []struct {
		flag, memKiB, min, max int
	}{
		{3, 19 * 1024, 3, 3},             // the flag wins
		{0, 19 * 1024, 2, 13},            // CPUs, at least 2, within 256 MiB
		{0, 200 * 1024, 1, 1},            // a costly hash: one at a time
		{0, 64, 2, runtime.NumCPU() + 2}, // cheap hashes: CPUs
	} {
		c := Config{Argon2Concurrency: tc.flag, Argon2MemoryKiB: uint(tc.memKiB)}
		if got := c.argon2Concurrency(); got < tc.min || got > tc.max {
			t.Errorf("argon2Concurrency(flag %d, %d KiB) = %d, want %d..%d", tc.flag, tc.memKiB, got, tc.min, tc.max)
		}
	}
}
