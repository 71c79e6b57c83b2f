package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpsConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	t.Run("NodeID", func(t *testing.T) {
		m := NewMain()
		if err := m.ParseFlags("serve", []string{"--node-id", "node2"}, env(nil)); err != nil {
			t.Fatal(err)
		}
		if got := m.Config.Ops.sidPrefix(); got != "node2." {
			t.Errorf("sid prefix = %q", got)
		}
	})
	t.Run("ErrNodeID", func(t *testing.T) {
		m := NewMain()
		m.Stderr = &bytes.Buffer{}
		if err := m.ParseFlags("serve", []string{"--node-id", "node.2"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--node-id") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("IdleMemoryRelease", func(t *testing.T) {
		m := NewMain()
		if m.Config.Ops.IdleMemoryRelease != 2*time.Second {
			t.Errorf("default = %v, want 2s", m.Config.Ops.IdleMemoryRelease)
		}
		if err := m.ParseFlags("serve", nil, env(map[string]string{"PARLEY_IDLE_MEMORY_RELEASE": "0"})); err != nil || m.Config.Ops.IdleMemoryRelease != 0 {
			t.Errorf("0 (off): %v, %v", m.Config.Ops.IdleMemoryRelease, err)
		}
		for _, bad := range []string{"10ms", "2h", "-1s"} {
			m := NewMain()
			m.Stderr = &bytes.Buffer{}
			if err := m.ParseFlags("serve", []string{"--idle-memory-release", bad}, env(nil)); err == nil || !strings.Contains(err.Error(), "--idle-memory-release") {
				t.Errorf("%s: err = %v", bad, err)
			}
		}
	})
	t.Run("SecretFiles", func(t *testing.T) {
		dir := t.TempDir()
		dsn := filepath.Join(dir, "dsn")
		pw := filepath.Join(dir, "pw")
		os.WriteFile(dsn, []byte("postgres://p:secret@db/parley\n"), 0o600)
		os.WriteFile(pw, []byte("redis-secret"), 0o600)
		m := NewMain()
		err := m.ParseFlags("serve", []string{"--redis-password", "from-flag"}, env(map[string]string{
			"PARLEY_STORE": "postgres", "PARLEY_POSTGRES_DSN_FILE": dsn,
			"PARLEY_REDIS_PASSWORD_FILE": pw,
		}))
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.PostgresDSN != "postgres://p:secret@db/parley" {
			t.Errorf("dsn = %q", m.Config.PostgresDSN)
		}
		if m.Config.RedisPassword != "from-flag" {
			t.Errorf("a flag must win over a _FILE variable: %q", m.Config.RedisPassword)
		}
	})
	t.Run("ErrSecretFileMissing", func(t *testing.T) {
		m := NewMain()
		m.Stderr = &bytes.Buffer{}
		err := m.ParseFlags("serve", nil, env(map[string]string{"PARLEY_S3_SECRET_KEY_FILE": "/nonexistent/secret"}))
		if err == nil || !strings.Contains(err.Error(), "PARLEY_S3_SECRET_KEY_FILE") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFCMApplicationDefaultCredentials(t *testing.T) {
	key := filepath.Join(t.TempDir(), "sa.json")
	os.WriteFile(key, []byte(`{"type":"service_account"}`), 0o600)
	for _, tc := range []struct {
		name          string
		file, project string
		env           map[string]string
		on            bool
		wantCreds     bool
		wantMetadata  string
	}{
		{"Off", "", "", nil, false, false, ""},
		{"KeyFileFlag", key, "", nil, true, true, ""},
		{"GoogleApplicationCredentials", "", "p", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key}, true, true, ""},
		{"MetadataServer", "", "p", map[string]string{"GCE_METADATA_HOST": "127.0.0.1:8181"}, true, false, "http://127.0.0.1:8181"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			m.Config.FCMCredentialsFile, m.Config.Ops.FCMProjectID = tc.file, tc.project
			m.Getenv = func(k string) string { return tc.env[k] }
			fc, on, err := m.fcmConfig()
			if err != nil || on != tc.on || (len(fc.Credentials) > 0) != tc.wantCreds || fc.MetadataURL != tc.wantMetadata {
				t.Errorf("fcmConfig = %+v, %v, %v", fc, on, err)
			}
		})
	}
}
