package realtime

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/engineio/wstest"
	"github.com/parleyhq/parley/inmem"
)

// tokenAccounts authenticates tokens "<user>:<device>".
type tokenAccounts struct{ parley.AccountService }

func (tokenAccounts) Authenticate(_ context.Context, token string) (parley.Caller, error) {
	var c parley.Caller
	if _, err := fmt.Sscanf(token, "%d:%d", &c.UserID, &c.DeviceID); err != nil {
		return c, parley.Errorf(parley.EUNAUTHORIZED, "bad token")
	}
	return c, nil
}

// positions answers the log position a connection takes.
type positions struct{ parley.MessageService }

func (positions) LogPosition(context.Context) (parley.LogPosition, error) { return testPosition, nil }

type noPresence struct{}

func (noPresence) Connected(context.Context, parley.Caller) error    { return nil }
func (noPresence) Disconnected(context.Context, parley.Caller) error { return nil }

// mustGateway serves a gateway whose tokens are "<user>:<device>" and
// returns its WebSocket URL.
func mustGateway(t *testing.T, cfg Config) (*Gateway, string) {
	t.Helper()
	cfg.Engine.PingInterval = time.Minute
	bus := inmem.NewBus()
	g, err := New(cfg, Services{Accounts: tokenAccounts{}, Messages: positions{}, Connections: noPresence{}}, bus)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		g.Close()
		hs.Close()
		bus.Close()
	})
	return g, "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
}

type wsClient struct {
	t *testing.T
	c *wstest.Conn
}

// dial opens a socket with token and returns it with the CONNECT answer
// ("40{..." or "44{...").
func dial(t *testing.T, url, token string, hdr http.Header) (*wsClient, string) {
	t.Helper()
	c, err := (&wstest.Dialer{Header: hdr}).Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	wc := &wsClient{t, c}
	if open := wc.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	_ = c.WriteText(`40{"token":"` + token + `"}`)
	return wc, wc.read()
}

func (wc *wsClient) read() string {
	wc.t.Helper()
	for {
		_ = wc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := wc.c.Read()
		if err != nil {
			wc.t.Fatalf("read: %v", err)
		}
		if string(data) != "2" {
			return string(data)
		}
	}
}

func wantPrefix(t *testing.T, got, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("got %q, want prefix %q", got, prefix)
	}
}

const tooMany = `44{"message":"too_many"}`

func TestSocketsPerUser(t *testing.T) {
	_, url := mustGateway(t, Config{MaxSocketsPerUser: 2})
	first, got := dial(t, url, "1:1", nil)
	wantPrefix(t, got, "40{")
	_, got = dial(t, url, "1:2", nil)
	wantPrefix(t, got, "40{")
	_, got = dial(t, url, "1:3", nil)
	if got != tooMany {
		t.Errorf("third socket got %q, want %q", got, tooMany)
	}
	_, got = dial(t, url, "2:1", nil)
	wantPrefix(t, got, "40{") // another user is not affected

	// A socket that leaves frees its place.
	first.c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, got = dial(t, url, "1:4", nil)
		if strings.HasPrefix(got, "40{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket after one left got %q", got)
		}
	}
}

func TestSocketsPerAddr(t *testing.T) {
	_, url := mustGateway(t, Config{
		MaxSocketsPerAddr: 2,
		Engine:            engineio.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	from := func(a string) http.Header { return http.Header{"X-Forwarded-For": {a}} }
	for i := range 2 {
		_, got := dial(t, url, fmt.Sprintf("%d:1", i+1), from("198.51.100.1"))
		wantPrefix(t, got, "40{")
	}
	if _, got := dial(t, url, "3:1", from("198.51.100.1")); got != tooMany {
		t.Errorf("third socket of one address got %q, want %q", got, tooMany)
	}
	// A refused token gives its slot back.
	if _, got := dial(t, url, "nonsense", from("198.51.100.2")); got != `44{"message":"unauthorized"}` {
		t.Errorf("bad token got %q", got)
	}
	for i := range 2 {
		_, got := dial(t, url, fmt.Sprintf("%d:1", i+4), from("198.51.100.2"))
		wantPrefix(t, got, "40{")
	}
}

func TestUserEventRate(t *testing.T) {
	_, url := mustGateway(t, Config{UserEventRate: Rate{PerSecond: 0.001, Burst: 3}})
	a, got := dial(t, url, "1:1", nil)
	wantPrefix(t, got, "40{")
	b, got := dial(t, url, "1:2", nil)
	wantPrefix(t, got, "40{")
	// Unknown events are answered invalid when admitted: the bucket is
	// the user's, so the two sockets share three.
	for i, wc := range []*wsClient{a, b, a, b} {
		_ = wc.c.WriteText(fmt.Sprintf(`42%d["nothing"]`, i))
		got := wc.read()
		want := `"code":"invalid"`
		if i == 3 {
			want = `"code":"too_many"`
		}
		if !strings.HasPrefix(got, fmt.Sprintf("43%d", i)) || !strings.Contains(got, want) {
			t.Errorf("event %d answered %q, want %s", i, got, want)
		}
	}
}

func TestInvalidUTF8Refused(t *testing.T) {
	_, url := mustGateway(t, Config{})
	wc, got := dial(t, url, "1:1", nil)
	wantPrefix(t, got, "40{")
	_ = wc.c.WriteText("421[\"send\",{\"conversation_id\":\"7\",\"body\":\"a\xff\xfe\"}]")
	got = wc.read()
	if !strings.HasPrefix(got, "431") || !strings.Contains(got, `"code":"invalid"`) {
		t.Errorf("answer %q, want an invalid ack", got)
	}
	// Without an ack, an error event; the connection stays either way.
	_ = wc.c.WriteText("42[\"typing\",{\"conversation_id\":\"\xff\"}]")
	got = wc.read()
	if !strings.HasPrefix(got, `42["error",`) || !strings.Contains(got, `"code":"invalid"`) {
		t.Errorf("answer %q, want an invalid error event", got)
	}
}

func TestReplayBudget(t *testing.T) {
	g := &Gateway{cfg: Config{Engine: engineio.Config{MaxWriteBuffer: 1000}}.withDefaults()}
	b := g.newReplayBudget()
	for i, tt := range []struct {
		n    int
		want bool
	}{{300, true}, {300, true}, {300, false}, {1, false}} {
		if got := b.take(tt.n); got != tt.want {
			t.Errorf("take %d (#%d) = %v, want %v", tt.n, i, got, tt.want)
		}
	}
	if !g.newReplayBudget().take(5000) {
		t.Error("a first message larger than the budget must still go")
	}
}
