package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/testenv"
)

// closeBound is how long a test gives a revoked device's sockets to
// close. The design's bound is 1 s (a node reads the feed of ended
// sessions every 300 ms); the tests allow 3 s so that a loaded machine
// does not fail them.
const closeBound = 3 * time.Second

// mustSocket connects a socket with token to the node at addr, without
// reconnection: once the server ends it, it stays ended.
func mustSocket(tb testing.TB, addr, token string) *parleyclient.Socket {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := parleyclient.New("http://"+addr, nil).WithToken(token).Dial(ctx, parleyclient.SocketConfig{Handler: func(parleyclient.Event) {}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// wantClosed waits for the server to end each socket.
func wantClosed(tb testing.TB, what string, socks ...*parleyclient.Socket) {
	tb.Helper()
	deadline := time.After(closeBound)
	for i, s := range socks {
		select {
		case <-s.Done():
		case <-deadline:
			tb.Fatalf("%s: socket %d of %d still open after %v", what, i+1, len(socks), closeBound)
		}
	}
}

// wantAlive checks that the socket still answers: a sync is acknowledged.
func wantAlive(tb testing.TB, s *parleyclient.Socket) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx, nil); err != nil {
		tb.Fatalf("the current session's socket does not answer: %v", err)
	}
	select {
	case <-s.Done():
		tb.Fatal("the current session's socket was closed")
	default:
	}
}

// mustDevices registers handle on c's node and logs it in on n devices.
func mustDevices(tb testing.TB, c *client, handle string, n int) []session {
	tb.Helper()
	pw := "pw-" + handle + "-long"
	if s := c.do("POST", "/v1/users", map[string]string{"handle": handle, "password": pw}, nil); s != http.StatusCreated {
		tb.Fatalf("register %s: %d", handle, s)
	}
	var out []session
	for i := 0; i < n; i++ {
		var sess session
		if s := c.do("POST", "/v1/sessions", map[string]string{"handle": handle, "password": pw, "device_name": fmt.Sprint("device ", i)}, &sess); s != http.StatusCreated {
			tb.Fatalf("login %s: %d", handle, s)
		}
		out = append(out, sess)
	}
	return out
}

// TestClusterSessions: on three nodes sharing PostgreSQL and Redis, a
// revoked device's sockets close on whichever node they are, both when the
// revocation's bus notice arrives and when it is lost: then it is revoked
// through a fourth node on the same database whose bus reaches nobody, so
// only the feed of ended sessions can close them.
func TestClusterSessions(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var nodes []*Main
	for i := 0; i < 3; i++ {
		nodes = append(nodes, MustRunMain(t, clusterConfig(t, pg, rd)))
	}
	loneCfg := clusterConfig(t, pg, rd)
	loneCfg.Bus, loneCfg.RedisAddrs = "inmem", ""
	lone := MustRunMain(t, loneCfg)

	for i, tc := range []struct {
		name   string
		via    *Main
		others bool
	}{
		{"RevokeOne", nodes[0], false},
		{"RevokeOneNoticeLost", lone, false},
		{"RevokeOthers", nodes[1], true},
		{"RevokeOthersNoticeLost", lone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, nodes[0].Addr())
			ss := mustDevices(t, c, fmt.Sprint("sess", i), 4)
			// The current device on node 0, the others on nodes 0, 1, 2.
			current := mustSocket(t, nodes[0].Addr(), ss[0].Token)
			var others []*parleyclient.Socket
			for j, s := range ss[1:] {
				others = append(others, mustSocket(t, nodes[j%3].Addr(), s.Token))
			}
			me := newClient(t, tc.via.Addr()).with(ss[0].Token)
			if tc.others {
				// Through the Go client package.
				gc := parleyclient.New("http://"+tc.via.Addr(), nil).WithToken(ss[0].Token)
				list, err := gc.Sessions(context.Background())
				if err != nil || len(list) != 4 || !list[0].Current || list[0].ID.String() != ss[0].DeviceID {
					t.Fatalf("Sessions = %+v, %v", list, err)
				}
				if n, err := gc.RevokeOtherSessions(context.Background()); err != nil || n != 3 {
					t.Fatalf("RevokeOtherSessions = %d, %v", n, err)
				}
				wantClosed(t, "revoked sessions", others...)
			} else {
				me.want("DELETE", "/v1/sessions/"+ss[3].DeviceID, nil, http.StatusNoContent, "")
				wantClosed(t, "revoked session", others[2])
				for _, s := range others[:2] {
					wantAlive(t, s)
				}
			}
			wantAlive(t, current)
			newClient(t, nodes[2].Addr()).with(ss[3].Token).want("GET", "/v1/me", nil, http.StatusUnauthorized, parley.EUNAUTHORIZED)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if s, err := parleyclient.New("http://"+nodes[1].Addr(), nil).WithToken(ss[3].Token).Dial(ctx, parleyclient.SocketConfig{}); err == nil {
				s.Close()
				t.Fatal("a revoked session connected a socket")
			}
		})
	}
}

// TestClusterSessionsRedisDown: with Redis stopped, the revocation's bus
// notice cannot be published at all; the socket on another node closes
// all the same.
func TestClusterSessionsRedisDown(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var nodes []*Main
	for i := 0; i < 2; i++ {
		nodes = append(nodes, MustRunMain(t, clusterConfig(t, pg, rd)))
	}
	c := newClient(t, nodes[0].Addr())
	ss := mustDevices(t, c, "sessredis", 2)
	current := mustSocket(t, nodes[0].Addr(), ss[0].Token)
	other := mustSocket(t, nodes[1].Addr(), ss[1].Token)
	rd.Stop()
	defer rd.Restart()
	status := make(chan int, 1)
	go func() {
		st, _, err := c.with(ss[0].Token).try("DELETE", "/v1/sessions/"+ss[1].DeviceID, nil)
		if err != nil {
			st = -1
		}
		status <- st
	}()
	wantClosed(t, "a session revoked while the bus is down", other)
	if st := <-status; st != http.StatusNoContent {
		t.Fatalf("revoke while the bus is down = %d", st)
	}
	wantAlive(t, current)
}

// TestAccountsAPI runs the account endpoints on one node with a clock the
// test moves.
func TestAccountsAPI(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	cfg := testConfig(t)
	cfg.SessionIdleTimeout, cfg.SessionMaxAge = time.Hour, 3*time.Hour
	m := NewMain()
	m.Clock = clk.now
	m.Config = cfg
	m.Stderr = nopWriter{}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := newClient(t, m.Addr())
	c.record = openAPIRecorder(t) // every answer is checked against docs/openapi.yaml

	t.Run("ListAndRevoke", func(t *testing.T) {
		defer bind(t, c)()
		ss := mustDevices(t, c, "lister", 3)
		me := c.with(ss[0].Token)
		var list struct {
			Sessions []struct {
				ID         string    `json:"id"`
				Name       string    `json:"name"`
				CreatedAt  time.Time `json:"created_at"`
				LastSeenAt time.Time `json:"last_seen_at"`
				Current    bool      `json:"current"`
			} `json:"sessions"`
		}
		if s := me.do("GET", "/v1/sessions", nil, &list); s != http.StatusOK || len(list.Sessions) != 3 {
			t.Fatalf("GET /v1/sessions = %d %+v", s, list)
		}
		if got := list.Sessions[0]; got.ID != ss[0].DeviceID || !got.Current || got.Name != "device 0" || !got.CreatedAt.Equal(clk.now()) || !got.LastSeenAt.Equal(clk.now()) {
			t.Fatalf("first session = %+v", got)
		}
		me.want("DELETE", "/v1/sessions", nil, http.StatusBadRequest, parley.EINVALID)
		me.want("DELETE", "/v1/sessions/999999", nil, http.StatusNotFound, parley.ENOTFOUND)
		me.want("DELETE", "/v1/sessions/"+ss[1].DeviceID, nil, http.StatusNoContent, "")
		c.with(ss[1].Token).want("GET", "/v1/me", nil, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		// Revoking the current session by its id is a logout.
		c.with(ss[2].Token).want("DELETE", "/v1/sessions/"+ss[2].DeviceID, nil, http.StatusNoContent, "")
		c.with(ss[2].Token).want("GET", "/v1/me", nil, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		me.want("GET", "/v1/me", nil, http.StatusOK, "")
	})
	t.Run("ChangePassword", func(t *testing.T) {
		defer bind(t, c)()
		ss := mustDevices(t, c, "changer", 2)
		me := c.with(ss[0].Token)
		other := mustSocket(t, m.Addr(), ss[1].Token)
		me.want("PUT", "/v1/me/password", map[string]string{"old_password": "wrong password", "new_password": "brand new password"}, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		me.want("PUT", "/v1/me/password", map[string]string{"old_password": "pw-changer-long", "new_password": "short"}, http.StatusBadRequest, parley.EINVALID)
		me.want("PUT", "/v1/me/password", map[string]string{"old_password": "pw-changer-long", "new_password": "brand new password"}, http.StatusNoContent, "")
		wantClosed(t, "the other session after a password change", other)
		c.with(ss[1].Token).want("GET", "/v1/me", nil, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		me.want("GET", "/v1/me", nil, http.StatusOK, "")
		c.want("POST", "/v1/sessions", map[string]string{"handle": "changer", "password": "pw-changer-long"}, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		c.want("POST", "/v1/sessions", map[string]string{"handle": "changer", "password": "brand new password"}, http.StatusCreated, "")
	})
	t.Run("Expiry", func(t *testing.T) {
		defer bind(t, c)()
		ss := mustDevices(t, c, "expirer", 3)
		sock := mustSocket(t, m.Addr(), ss[0].Token)
		wantExpired := func(tok string) {
			t.Helper()
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if s := c.with(tok).do("GET", "/v1/me", nil, &e); s != http.StatusUnauthorized || e.Error.Code != parley.EUNAUTHORIZED || e.Error.Message != "session expired" {
				t.Fatalf("expired session: %d %+v", s, e)
			}
		}
		// Idle: ss[2] is used every 40 minutes, ss[1] never.
		for i := 0; i < 2; i++ {
			clk.add(40 * time.Minute)
			c.with(ss[2].Token).want("GET", "/v1/me", nil, http.StatusOK, "")
		}
		wantExpired(ss[1].Token)
		// The sweep ends the idle sessions (earlier subtests' too), whose
		// sockets close.
		if n, err := m.app.ExpireSessions(context.Background()); err != nil || n < 1 {
			t.Fatalf("ExpireSessions = %d, %v", n, err)
		}
		wantClosed(t, "an expired session", sock)
		// Absolute: however much ss[2] is used, it ends at 3 hours.
		for clk.now().Sub(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)) < 3*time.Hour {
			c.with(ss[2].Token).want("GET", "/v1/me", nil, http.StatusOK, "")
			clk.add(30 * time.Minute)
		}
		clk.add(time.Minute)
		wantExpired(ss[2].Token)
	})
	t.Run("DeleteAccount", func(t *testing.T) {
		defer bind(t, c)()
		gone := mustDevices(t, c, "leaver", 1)[0]
		friend := mustDevices(t, c, "stayer", 1)[0]
		fc := c.with(friend.Token)
		var conv struct{ ID string }
		if s := c.with(gone.Token).do("POST", "/v1/conversation", map[string]any{"member_ids": []string{friend.User.ID}}, &conv); s != http.StatusCreated {
			t.Fatalf("create conversation: %d", s)
		}
		c.with(gone.Token).want("POST", "/v1/conversation/"+conv.ID+"/messages", map[string]string{"client_msg_id": "m1", "type": "text", "body": "bye"}, http.StatusCreated, "")
		sock := mustSocket(t, m.Addr(), gone.Token)
		c.with(gone.Token).want("DELETE", "/v1/me", map[string]string{"password": "not it"}, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		c.with(gone.Token).want("DELETE", "/v1/me", map[string]string{"password": "pw-leaver-long"}, http.StatusNoContent, "")
		wantClosed(t, "the deleted account's socket", sock)
		var u struct {
			Handle      string `json:"handle"`
			DisplayName string `json:"display_name"`
			Deleted     bool   `json:"deleted"`
		}
		if s := fc.do("GET", "/v1/users/"+gone.User.ID, nil, &u); s != http.StatusOK || !u.Deleted || u.DisplayName != "Deleted account" || u.Handle != "" {
			t.Fatalf("deleted user = %d %+v", s, u)
		}
		var hist struct {
			Messages []struct {
				SenderID string `json:"sender_id"`
				Body     string `json:"body"`
			} `json:"messages"`
		}
		if s := fc.do("GET", "/v1/conversation/"+conv.ID+"/details", nil, &hist); s != http.StatusOK || len(hist.Messages) != 1 || hist.Messages[0].SenderID != gone.User.ID || hist.Messages[0].Body != "bye" {
			t.Fatalf("the friend's history = %+v", hist)
		}
		mustDevices(t, c, "leaver", 1) // the handle is free again
	})
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestRegistrationModes runs a node in each sign-up mode.
func TestRegistrationModes(t *testing.T) {
	body := func(h, invite string) map[string]string {
		return map[string]string{"handle": h, "password": "pw-" + h + "-long", "invite": invite}
	}
	for _, mode := range []string{"open", "invite", "closed"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Registration = mode
			m := MustRunMain(t, cfg)
			c := newClient(t, m.Addr())
			switch mode {
			case "open":
				c.want("POST", "/v1/users", body("opal", ""), http.StatusCreated, "")
			case "closed":
				c.want("POST", "/v1/users", body("opal", ""), http.StatusForbidden, parley.EFORBIDDEN)
			case "invite":
				c.want("POST", "/v1/users", body("opal", ""), http.StatusForbidden, parley.EFORBIDDEN)
				c.want("POST", "/v1/users", body("opal", "WRONG-CODE"), http.StatusForbidden, parley.EFORBIDDEN)
				inv, err := m.app.CreateInvite(context.Background(), 1, time.Hour, "")
				if err != nil {
					t.Fatal(err)
				}
				c.want("POST", "/v1/users", body("opal", inv.Code), http.StatusCreated, "")
				c.want("POST", "/v1/users", body("onyx", inv.Code), http.StatusForbidden, parley.EFORBIDDEN)
			}
		})
	}
}
