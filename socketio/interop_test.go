package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// jstestDir is internal/jstest, where the JavaScript clients live.
func jstestDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "internal", "jstest"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// MustNode returns the node binary, failing when the JavaScript side is not
// installed: the interoperability check is part of CI, not optional.
func MustNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js ≥ 18 and run: npm ci --prefix internal/jstest")
	}
	if _, err := os.Stat(filepath.Join(jstestDir(t), "node_modules", "socket.io-client")); err != nil {
		t.Fatal("internal/jstest/node_modules is missing; run: npm ci --prefix internal/jstest")
	}
	return node
}

// interopServer is the server side of socketio-interop.mjs.
func interopServer(t *testing.T) string {
	t.Helper()
	srv, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	root := srv.Of("/")
	root.OnConnect = func(s *Socket, auth json.RawMessage) error {
		var a struct{ Token string }
		if json.Unmarshal(auth, &a) != nil || a.Token != "secret" {
			return errors.New("unauthorized")
		}
		return s.Emit("welcome", auth)
	}
	root.On("echo", func(s *Socket, ev Event) {
		if ev.Ack != nil {
			_ = ev.Ack(ev.Args[0])
		}
	})
	root.On("ask-me", func(s *Socket, ev Event) {
		var x int
		_ = json.Unmarshal(ev.Args[0], &x)
		_ = s.EmitWithAck("question", 5*time.Second, func(args []json.RawMessage, err error) {
			if err != nil {
				t.Errorf("question ack: %v", err)
				return
			}
			_ = s.EmitRaw("answer-received", args[0])
		}, map[string]int{"x": x})
	})
	root.On("binary", func(s *Socket, ev Event) {
		if len(ev.Attachments) != 1 || ev.Ack == nil {
			t.Errorf("binary event: %d attachments, ack %v", len(ev.Attachments), ev.Ack != nil)
			return
		}
		_ = ev.Ack(bytes.Clone(ev.Attachments[0]))
	})
	root.On("drop-me", func(s *Socket, ev Event) { s.CloseConnection() })
	root.On("kick-me", func(s *Socket, ev Event) { s.Disconnect() })

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs.URL
}

func TestInteropSocketIOClient(t *testing.T) {
	node := MustNode(t)
	for _, mode := range []string{"default", "websocket", "polling"} {
		t.Run(mode, func(t *testing.T) {
			url := interopServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "socketio-interop.mjs", url, mode)
			cmd.Dir = jstestDir(t)
			out, err := cmd.CombinedOutput()
			t.Logf("node output:\n%s", out)
			if err != nil {
				t.Fatalf("socketio-interop.mjs %s: %v", mode, err)
			}
		})
	}
}
