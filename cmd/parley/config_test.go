package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	t.Run("Defaults", func(t *testing.T) {
		m := NewMain()
		if err := m.ParseFlags("serve", nil, env(nil)); err != nil {
			t.Fatal(err)
		}
		if m.Config.Addr != ":8080" || m.Config.DataDir != "./parley-data" || m.Config.MaxBodyBytes != 64<<10 || m.Config.MemberCap != 1024 || m.Config.RecallWindow != time.Hour {
			t.Fatalf("defaults = %+v", m.Config)
		}
		if m.Config.Argon2MemoryKiB < 19*1024 || m.Config.Argon2Time < 2 {
			t.Fatalf("password hashing below the OWASP minimum: %+v", m.Config)
		}
		if m.Config.Registration != "open" || m.Config.SessionIdleTimeout != 720*time.Hour || m.Config.SessionMaxAge != 0 {
			t.Fatalf("account defaults = %+v", m.Config)
		}
	})
	t.Run("EnvironmentThenFlags", func(t *testing.T) {
		m := NewMain()
		err := m.ParseFlags("serve", []string{"--addr", "127.0.0.1:9000"}, env(map[string]string{
			"PARLEY_ADDR": ":7000", "PARLEY_DATA_DIR": "/tmp/x", "PARLEY_RECALL_WINDOW": "5m", "PARLEY_MIGRATE": "true",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.Addr != "127.0.0.1:9000" || m.Config.DataDir != "/tmp/x" || m.Config.RecallWindow != 5*time.Minute || !m.Config.Migrate {
			t.Fatalf("config = %+v", m.Config)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"ErrBadEnv", nil, map[string]string{"PARLEY_MEMBER_CAP": "many"}, "PARLEY_MEMBER_CAP"},
		{"ErrBadFlag", []string{"--member-cap", "x"}, nil, "member-cap"},
		{"ErrUnknownFlag", []string{"--nope"}, nil, "nope"},
		{"ErrMemberCap", []string{"--member-cap", "1"}, nil, "--member-cap"},
		{"ErrBodyLimit", []string{"--max-body-bytes", "0"}, nil, "--max-body-bytes"},
		{"ErrLogLevel", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"ErrExtraArgument", []string{"extra"}, nil, "extra"},
		{"ErrUploadLimit", []string{"--max-upload-bytes", "0"}, nil, "--max-upload-bytes"},
		{"ErrS3Incomplete", []string{"--s3-endpoint", "http://127.0.0.1:9000"}, nil, "--s3-bucket"},
		{"ErrAPNsIncomplete", []string{"--apns-key-file", "AuthKey.p8", "--apns-key-id", "K"}, nil, "--apns-team-id"},
		{"ErrAPNsEnv", []string{"--apns-env", "staging"}, nil, "--apns-env"},
		{"ErrWebhookWithoutSecret", []string{"--push-webhook-url", "https://gw.example/push"}, nil, "--push-webhook-secret-file"},
		{"ErrWebPushSubject", []string{"--webpush-subject", "ops@example.com"}, nil, "--webpush-subject"},
		{"ErrPushDelay", []string{"--push-delay", "0s"}, nil, "--push-delay"},
		{"ErrRegistration", []string{"--registration", "maybe"}, nil, "--registration"},
		{"ErrSessionIdleTimeout", []string{"--session-idle-timeout", "1m"}, nil, "--session-idle-timeout"},
		{"ErrSessionMaxAge", []string{"--session-max-age", "-1h"}, nil, "--session-max-age"},
		{"ErrSessionCheckInterval", []string{"--session-check-interval", "1m"}, nil, "--session-check-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = &bytes.Buffer{}
			err := m.ParseFlags("serve", tc.args, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("MediaAndPushFromEnvironment", func(t *testing.T) {
		m := NewMain()
		err := m.ParseFlags("serve", nil, env(map[string]string{
			"PARLEY_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com", "PARLEY_S3_BUCKET": "media", "PARLEY_S3_ACCESS_KEY": "AK",
			"PARLEY_S3_SECRET_KEY": "SK", "PARLEY_S3_PATH_STYLE": "true", "PARLEY_MAX_UPLOAD_BYTES": "1048576",
			"PARLEY_WEBPUSH_SUBJECT": "mailto:ops@example.com", "PARLEY_PUSH_DELAY": "5s",
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		if c.S3Bucket != "media" || !c.S3PathStyle || c.S3SecretKey != "SK" || c.MaxUploadBytes != 1<<20 || c.PushDelay != 5*time.Second ||
			c.WebPushSubject != "mailto:ops@example.com" || c.vapidKeyFile() != "parley-data/vapid_private_key.pem" {
			t.Fatalf("config = %+v", c)
		}
	})
	t.Run("ErrUnreadablePushKey", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.APNsKeyFile, cfg.APNsKeyID, cfg.APNsTeamID, cfg.APNsTopic = "/nonexistent/AuthKey.p8", "K", "T", "chat.parley"
		m := NewMain()
		m.Config, m.Stderr = cfg, &bytes.Buffer{}
		err := m.Run(context.Background())
		m.Close()
		if err == nil || !strings.Contains(err.Error(), "apns") {
			t.Fatalf("Run = %v, want an APNs key error", err)
		}
	})
	t.Run("Help", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"--help"}, env(nil), &out, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--addr", "PARLEY_ADDR", "--data-dir", "PARLEY_DATA_DIR", "migrate"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("help lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("ErrUnknownCommand", func(t *testing.T) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"frobnicate"}, env(nil), &out, &out)
		if err == nil || !strings.Contains(err.Error(), "frobnicate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrPortTaken", func(t *testing.T) {
		first := MustRunMain(t, testConfig(t))
		cfg := testConfig(t)
		cfg.Addr = first.Addr()
		m := NewMain()
		m.Config, m.Stderr = cfg, &bytes.Buffer{}
		err := m.Run(context.Background())
		m.Close()
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestMigrate checks that migrate prepares a database and that serve then
// finds it current.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--data-dir", dir}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	cfg := testConfig(t)
	cfg.DataDir = dir
	MustRunMain(t, cfg)
}

// TestGracefulShutdown closes a node while a slow request is in flight:
// the request completes and Close returns without error.
// TestGracefulShutdown sends messages without pause while the node shuts
// down: every request is either answered 201 or refused at the door
// (never a 5xx, never cut off mid-way), at least one send was in flight,
// and every acknowledged message is in the log when the node starts again
// on the same data.
func TestGracefulShutdown(t *testing.T) {
	cfg := testConfig(t)
	m := MustRunMain(t, cfg)
	c := newClient(t, m.Addr())
	alice, _ := c.mustSignUp("alice")
	_, bs := c.mustSignUp("bob")
	var conv conversation
	alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &conv)

	var (
		mu    sync.Mutex
		acked []string
		other []string
	)
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				cmid := fmt.Sprintf("g%d-%d", w, i)
				s, body, err := alice.try("POST", "/v1/conversation/"+conv.ID+"/messages", []byte(`{"client_msg_id":"`+cmid+`","body":"bye"}`))
				switch {
				case err != nil:
					return // the listener is closed: refused at the door
				case s == http.StatusCreated:
					mu.Lock()
					acked = append(acked, cmid)
					mu.Unlock()
					once.Do(func() { close(first) })
				default:
					mu.Lock()
					other = append(other, fmt.Sprintf("%d %s", s, body))
					mu.Unlock()
					return
				}
			}
		}()
	}
	<-first // sends are flowing
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	for _, o := range other {
		if !strings.HasPrefix(o, "503 ") {
			t.Errorf("a request during shutdown was answered %s", o)
		}
	}

	again := MustRunMain(t, cfg)
	ac := newClient(t, again.Addr()).with(alice.token)
	have := map[string]bool{}
	for before := int64(0); ; {
		path := "/v1/conversation/" + conv.ID + "/details?limit=200"
		if before > 0 {
			path += fmt.Sprintf("&before_seq=%d", before)
		}
		var page struct {
			Messages []struct {
				Seq         int64  `json:"seq"`
				ClientMsgID string `json:"client_msg_id"`
			} `json:"messages"`
		}
		ac.do("GET", path, nil, &page)
		for _, m := range page.Messages {
			have[m.ClientMsgID] = true
		}
		if len(page.Messages) < 200 {
			break
		}
		before = page.Messages[0].Seq
	}
	for _, cmid := range acked {
		if !have[cmid] {
			t.Errorf("message %s was acknowledged before the shutdown but is not in the log", cmid)
		}
	}
	t.Logf("%d messages acknowledged during the shutdown, all in the log after a restart", len(acked))
}
