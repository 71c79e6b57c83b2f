package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/testenv"
)

// clusterConfig is a node of a service that shares PostgreSQL and Redis.
func clusterConfig(t *testing.T, pg *testenv.Postgres, rd *testenv.Redis) Config {
	cfg := testConfig(t)
	cfg.Store, cfg.PostgresDSN = "postgres", pg.DSN()
	cfg.Bus, cfg.RedisAddrs = "redis", rd.Addr()
	return cfg
}

// startCluster runs n nodes of one service on pg and rd (reading the time
// from clock when it is not nil) and returns their base URLs.
func startCluster(t *testing.T, n int, pg *testenv.Postgres, rd *testenv.Redis, clock func() time.Time) []string {
	t.Helper()
	var urls []string
	for range n {
		m := NewMain()
		m.Config, m.Stderr = clusterConfig(t, pg, rd), nopWriter{}
		if clock != nil {
			m.Clock = clock
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		urls = append(urls, "http://"+m.Addr())
	}
	return urls
}

// mustAccount signs handle up (once) and logs a new device of it in at url.
func mustAccount(t *testing.T, url, handle string) (*parleyclient.Client, *parley.Session) {
	t.Helper()
	ctx := context.Background()
	c := parleyclient.New(url, nil)
	if _, err := c.Register(ctx, parley.RegisterRequest{Handle: handle, Password: "password-" + handle}); err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
		t.Fatal(err)
	}
	s, err := c.Login(ctx, parley.LoginRequest{Handle: handle, Password: "password-" + handle})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// mustDial connects c's realtime socket with handler, closed at the end.
func mustDial(t *testing.T, c *parleyclient.Client, handler func(parleyclient.Event)) *parleyclient.Socket {
	t.Helper()
	s, err := c.Dial(context.Background(), parleyclient.SocketConfig{Handler: handler, AckTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// device is one logged-in client with a realtime connection that
// reconnects by itself and syncs after each reconnection. It keeps, per
// conversation, what it has: seq → message id, from events, sync and the
// acks of its own sends.
type device struct {
	t       *testing.T
	name    string
	user    parley.ID
	http    *parleyclient.Client
	sock    *parleyclient.Socket
	synced  atomic.Int64
	retries atomic.Int64 // sends that failed and were retried

	mu       sync.Mutex
	views    map[parley.ID]map[int64]parley.ID
	receipts map[parley.ID]map[parley.ID]parley.Receipt
	// sentUpTo is the highest seq each member sent, per conversation: a
	// message also moves its sender's read watermark to its seq, and no
	// separate receipt says so.
	sentUpTo map[parley.ID]map[parley.ID]int64
}

func newDevice(t *testing.T, url, handle string) *device {
	t.Helper()
	ctx := context.Background()
	c := parleyclient.New(url, nil)
	pw := "pw-" + handle + "-long"
	if _, err := c.Register(ctx, parley.RegisterRequest{Handle: handle, Password: pw}); err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
		t.Fatal(err)
	}
	s, err := c.Login(ctx, parley.LoginRequest{Handle: handle, Password: pw, DeviceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, name: handle, user: s.User.ID, http: c,
		views: map[parley.ID]map[int64]parley.ID{}, receipts: map[parley.ID]map[parley.ID]parley.Receipt{},
		sentUpTo: map[parley.ID]map[parley.ID]int64{}}
}

// connect opens the realtime connection to url.
func (d *device) connect(url string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := parleyclient.New(url, nil).WithToken(d.http.Token()).Dial(ctx, parleyclient.SocketConfig{
		Reconnect: true, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		AckTimeout:  10 * time.Second,
		Handler:     d.onEvent,
		OnReconnect: func(s *parleyclient.Socket, resume map[parley.ID]int64) { d.sync(s) },
	})
	if err != nil {
		d.t.Fatal(err)
	}
	d.sock = s
	d.t.Cleanup(func() { s.Close() })
}

// sync catches the device up from its cursors, trying again while the
// server answers that it cannot for now (its store restarting), as a
// real client does, until the socket is closed or 60 seconds pass.
func (d *device) sync(s *parleyclient.Socket) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.Sync(ctx, d.cursors())
		cancel()
		if err == nil {
			d.synced.Add(1)
			return
		}
		if !parley.IsRetryable(err) || time.Now().After(deadline) {
			return // a dropped socket syncs again when it reconnects
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *device) onEvent(ev parleyclient.Event) {
	if ev.Name == parley.EventResync {
		// The node's bus came back: events may have been lost.
		go d.sync(d.sock)
		return
	}
	switch v := ev.Data.(type) {
	case *parley.Message:
		d.record(v)
	case *parley.Receipt:
		d.mu.Lock()
		if d.receipts[v.ConversationID] == nil {
			d.receipts[v.ConversationID] = map[parley.ID]parley.Receipt{}
		}
		r := d.receipts[v.ConversationID][v.UserID]
		r.ConversationID, r.UserID = v.ConversationID, v.UserID
		r.DeliveredSeq, r.ReadSeq = max(r.DeliveredSeq, v.DeliveredSeq), max(r.ReadSeq, v.ReadSeq)
		d.receipts[v.ConversationID][v.UserID] = r
		d.mu.Unlock()
	case parley.Receipt:
		d.onEvent(parleyclient.Event{Data: &v})
	case parley.Message:
		d.record(&v)
	}
}

func (d *device) record(m *parley.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.views[m.ConversationID]
	if v == nil {
		v = map[int64]parley.ID{}
		d.views[m.ConversationID] = v
	}
	if id, ok := v[m.Seq]; ok && id != m.ID {
		d.t.Errorf("%s: seq %d of %s is message %s, and also %s", d.name, m.Seq, m.ConversationID, id, m.ID)
	}
	v[m.Seq] = m.ID
	if d.sentUpTo[m.ConversationID] == nil {
		d.sentUpTo[m.ConversationID] = map[parley.ID]int64{}
	}
	d.sentUpTo[m.ConversationID][m.SenderID] = max(d.sentUpTo[m.ConversationID][m.SenderID], m.Seq)
}

// cursors returns, per conversation, the highest seq held without a gap.
func (d *device) cursors() map[parley.ID]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[parley.ID]int64{}
	for conv, v := range d.views {
		var cur int64
		for v[cur+1] != 0 {
			cur++
		}
		out[conv] = cur
	}
	return out
}

// send sends until the message is acknowledged, retrying the same
// client_msg_id through outages, as a real client does.
func (d *device) send(conv parley.ID, cmid string) *parley.Message {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := d.sock.Send(ctx, parley.SendRequest{ConversationID: conv, ClientMsgID: cmid, Type: parley.TextMessage, Body: "hello from " + d.name})
		cancel()
		if err == nil {
			d.record(m)
			return m
		}
		var pe *parley.Error
		if errors.As(err, &pe) && !parley.IsRetryable(err) {
			d.t.Errorf("%s: send %s: %v", d.name, cmid, err)
			return nil
		}
		if time.Now().After(deadline) {
			d.t.Errorf("%s: send %s: gave up: %v", d.name, cmid, err)
			return nil
		}
		d.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

// logOf reads a conversation's whole log through the API.
func logOf(t *testing.T, c *parleyclient.Client, conv parley.ID) map[int64]parley.ID {
	out := map[int64]parley.ID{}
	var after int64
	for {
		ms, err := c.History(context.Background(), conv, parley.HistoryQuery{AfterSeq: after, Ascending: true, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return out
		}
		for _, m := range ms {
			out[m.Seq] = m.ID
		}
		after = ms[len(ms)-1].Seq
	}
}

// scenario is a set of devices spread over nodes, with 1:1 pairs and one
// group, exchanging messages.
type scenario struct {
	t       *testing.T
	devices []*device
	direct  []parley.ID // conversation of pair i: devices 2i and 2i+1
	group   parley.ID
	acked   sync.Map // client_msg_id → *parley.Message
	sent    atomic.Int64
}

// newScenario registers n devices through apiURL and connects device i to
// urls[i%len(urls)].
func newScenario(t *testing.T, apiURL string, urls []string, n int) *scenario {
	sc := &scenario{t: t}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		d := newDevice(t, apiURL, fmt.Sprintf("user%02d", i))
		sc.devices = append(sc.devices, d)
	}
	var ids []parley.ID
	for i := 0; i+1 < n; i += 2 {
		v, _, err := sc.devices[i].http.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{sc.devices[i+1].user}})
		if err != nil {
			t.Fatal(err)
		}
		sc.direct = append(sc.direct, v.ID)
	}
	for _, d := range sc.devices[1:] {
		ids = append(ids, d.user)
	}
	g, _, err := sc.devices[0].http.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: ids, Title: "everyone"})
	if err != nil {
		t.Fatal(err)
	}
	sc.group = g.ID
	for i, d := range sc.devices {
		d.connect(urls[i%len(urls)])
	}
	return sc
}

// traffic sends per messages from every device into its 1:1 conversation
// and per into the group, all devices at once; during is called once a
// third of the messages are acknowledged.
func (sc *scenario) traffic(per int, during func()) {
	total := int64(len(sc.devices) * per * 2)
	var once sync.Once
	var wg sync.WaitGroup
	for i, d := range sc.devices {
		wg.Add(1)
		go func(i int, d *device) {
			defer wg.Done()
			for j := 0; j < per; j++ {
				for k, conv := range []parley.ID{sc.direct[i/2], sc.group} {
					cmid := fmt.Sprintf("%s-%d-%d", d.name, k, j)
					if m := d.send(conv, cmid); m != nil {
						sc.acked.Store(cmid, m)
					}
					if n := sc.sent.Add(1); n == total/3 && during != nil {
						once.Do(func() { go during() })
					}
				}
			}
		}(i, d)
	}
	wg.Wait()
}

// verify checks that the store holds every acknowledged message exactly
// once with dense seqs, that every device ends with exactly the store's
// history of its conversations, and that every member's final read
// receipt reaches every device.
func (sc *scenario) verify() {
	t := sc.t
	t.Helper()
	logs := map[parley.ID]map[int64]parley.ID{}
	for _, conv := range append(append([]parley.ID{}, sc.direct...), sc.group) {
		reader := sc.devices[0].http
		if conv != sc.group {
			reader = sc.devices[2*indexOf(sc.direct, conv)].http
		}
		h := logOf(t, reader, conv)
		for s := int64(1); s <= int64(len(h)); s++ {
			if h[s] == 0 {
				t.Fatalf("conversation %s: seqs not dense, %d missing of %d", conv, s, len(h))
			}
		}
		logs[conv] = h
	}
	stored := map[parley.ID]bool{}
	for _, h := range logs {
		for _, id := range h {
			stored[id] = true
		}
	}
	n := 0
	sc.acked.Range(func(k, v any) bool {
		n++
		if !stored[v.(*parley.Message).ID] {
			t.Errorf("acknowledged message %s was lost", k)
		}
		return true
	})
	total := 0
	for _, h := range logs {
		total += len(h)
	}
	if total != n {
		t.Errorf("stored %d messages, acknowledged %d", total, n)
	}
	// Every device catches up (its own sync after the last reconnection,
	// plus live events) to exactly the store's history.
	for i, d := range sc.devices {
		for _, conv := range []parley.ID{sc.direct[i/2], sc.group} {
			want := logs[conv]
			waitFor(t, fmt.Sprintf("%s to hold all %d messages of %s", d.name, len(want), conv), func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return len(d.views[conv]) >= len(want)
			})
			d.mu.Lock()
			for seq, id := range want {
				if d.views[conv][seq] != id {
					t.Errorf("%s: seq %d of %s is %s, the store has %s", d.name, seq, conv, d.views[conv][seq], id)
				}
			}
			if len(d.views[conv]) != len(want) {
				t.Errorf("%s holds %d messages of %s, the store %d", d.name, len(d.views[conv]), conv, len(want))
			}
			d.mu.Unlock()
		}
	}
	// Read receipts: each device reads to the end; every other member's
	// device learns of it.
	for i, d := range sc.devices {
		for _, conv := range []parley.ID{sc.direct[i/2], sc.group} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := d.sock.Read(ctx, conv, int64(len(logs[conv]))); err != nil {
				t.Errorf("%s: read: %v", d.name, err)
			}
			cancel()
		}
	}
	for i, d := range sc.devices {
		for _, other := range sc.devices {
			if other == d {
				continue
			}
			convs := []parley.ID{sc.group}
			if i/2 == indexOf(sc.devices, other)/2 {
				convs = append(convs, sc.direct[i/2])
			}
			for _, conv := range convs {
				last := int64(len(logs[conv]))
				waitFor(t, fmt.Sprintf("%s to see %s read %s", d.name, other.name, conv), func() bool {
					d.mu.Lock()
					defer d.mu.Unlock()
					return max(d.receipts[conv][other.user].ReadSeq, d.sentUpTo[conv][other.user]) >= last
				})
			}
		}
	}
}

func indexOf[T comparable](xs []T, x T) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

func urlsOf(nodes []*Main) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, "http://"+n.Addr())
	}
	sort.Strings(out)
	return out
}

// TestClusterChat: three nodes on one PostgreSQL and one Redis; 20
// devices spread over them exchange 2,000 messages in 1:1 conversations
// and a group. Presence is right across nodes.
func TestClusterChat(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var nodes []*Main
	for i := 0; i < 3; i++ {
		nodes = append(nodes, MustRunMain(t, clusterConfig(t, pg, rd)))
	}
	urls := urlsOf(nodes)
	sc := newScenario(t, urls[0], urls, 20)
	sc.traffic(50, nil)
	sc.verify()

	t.Run("PresenceAcrossNodes", func(t *testing.T) {
		// user00 and user01 share a direct conversation and sit on
		// different nodes.
		a, b := sc.devices[0], sc.devices[1]
		ask := parleyclient.New(urls[2], nil).WithToken(b.http.Token())
		st, err := ask.Presence(context.Background(), a.user)
		if err != nil || len(st) != 1 || !st[0].Online {
			t.Fatalf("presence of a connected user seen through another node = %+v, %v", st, err)
		}
		a.sock.Close()
		waitFor(t, "user00 to go offline everywhere", func() bool {
			st, err := ask.Presence(context.Background(), a.user)
			return err == nil && !st[0].Online && st[0].LastSeen != nil
		})
	})
}

// outageScenario runs three in-process nodes and 8 devices exchanging
// messages, calls outage a third of the way through, and checks nothing
// acknowledged was lost and every device caught up.
func outageScenario(t *testing.T, pg *testenv.Postgres, rd *testenv.Redis, outage func()) *scenario {
	var nodes []*Main
	for i := 0; i < 3; i++ {
		nodes = append(nodes, MustRunMain(t, clusterConfig(t, pg, rd)))
	}
	urls := urlsOf(nodes)
	sc := newScenario(t, urls[0], urls, 8)
	sc.traffic(60, outage)
	sc.verify()
	return sc
}

func (sc *scenario) total(count func(d *device) int64) int64 {
	var n int64
	for _, d := range sc.devices {
		n += count(d)
	}
	return n
}

// TestClusterRedisRestart restarts Redis mid-traffic: sends keep being
// stored and acknowledged, the nodes resubscribe by themselves and tell
// their clients to sync, and nothing acknowledged is lost.
func TestClusterRedisRestart(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	sc := outageScenario(t, pg, rd, func() {
		rd.Stop()
		time.Sleep(500 * time.Millisecond)
		rd.Restart()
	})
	if sc.total(func(d *device) int64 { return d.synced.Load() }) == 0 {
		t.Error("no device was told to resync after the bus came back")
	}
}

// TestClusterPostgresRestart restarts PostgreSQL mid-traffic: sends fail
// with a retryable error meanwhile (never a false ack), the nodes recover
// by themselves, and nothing acknowledged is lost.
func TestClusterPostgresRestart(t *testing.T) {
	pg, rd := testenv.MustPostgresServer(t), testenv.MustRedis(t)
	sc := outageScenario(t, pg, rd, func() {
		pg.Stop()
		time.Sleep(500 * time.Millisecond)
		pg.Restart()
	})
	retried := sc.total(func(d *device) int64 { return d.retries.Load() })
	if retried == 0 {
		t.Error("no send failed while PostgreSQL was down: the outage missed the traffic")
	}
	t.Logf("sends retried through the outage: %d", retried)
}

// TestClusterKillNode runs three node processes behind HAProxy with the
// documented configuration and kills one with SIGKILL mid-traffic: its
// clients reconnect through the balancer to another node and retry their
// unacknowledged sends; every acknowledged message exists exactly once and
// every device catches up.
func TestClusterKillNode(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var nodes []*child
	var addrs []string
	for i := 0; i < 3; i++ {
		n := startChild(t, t.TempDir(), "--store", "postgres", "--postgres-dsn", pg.DSN(), "--bus", "redis", "--redis-addrs", rd.Addr(), "--node-id", fmt.Sprint("node", i+1))
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr)
	}
	lb := testenv.MustHAProxy(t, "../../deploy/haproxy.cfg", addrs)
	url := "http://" + lb.Addr()
	sc := newScenario(t, url, []string{url}, 12)
	sc.traffic(60, func() {
		nodes[0].kill()
		t.Logf("killed node %s", nodes[0].addr)
	})
	sc.verify()
	reconnected := sc.total(func(d *device) int64 { return d.sock.Reconnects() })
	if reconnected == 0 {
		t.Error("no client had to reconnect: the killed node served nobody")
	}
	t.Logf("client reconnections: %d", reconnected)
}

// TestClusterBehindLoadBalancer runs the official client's chat scenario
// through HAProxy with the documented configuration in front of three
// nodes: its three sockets land on different nodes, and HTTP long-polling
// works only because the balancer routes each request by the node id that
// starts its session id. "plain" is the client's defaults outside a
// browser (polling first, no cookies), and "readme" the README's snippet
// word for word.
func TestClusterBehindLoadBalancer(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var addrs []string
	for i := 0; i < 3; i++ {
		cfg := clusterConfig(t, pg, rd)
		cfg.Ops.NodeID = fmt.Sprint("node", i+1)
		addrs = append(addrs, MustRunMain(t, cfg).Addr())
	}
	lb := testenv.MustHAProxy(t, "../../deploy/haproxy.cfg", addrs)
	for _, mode := range []string{"polling", "default", "plain"} {
		t.Run(mode, func(t *testing.T) { runChat(t, lb.Addr(), mode) })
	}
	t.Run("readme", func(t *testing.T) { runReadme(t, lb.Addr(), 6) })
}

// runReadme connects n sockets of different users through addr with the
// README's client snippet and checks that each connected and synced, and
// that the sessions were spread over the nodes.
func runReadme(t *testing.T, addr string, n int) {
	t.Helper()
	anon := newClient(t, addr)
	var tokens []string
	for i := range n {
		c, _ := anon.mustSignUp(fmt.Sprintf("readme_%d", i))
		tokens = append(tokens, c.token)
	}
	var res struct {
		Connected int      `json:"connected"`
		Synced    int      `json:"synced"`
		SIDs      []string `json:"sids"`
	}
	jsClient(t, addr, "readme", "plain", map[string]any{"tokens": tokens}, &res)
	if res.Connected != n || res.Synced != n {
		t.Fatalf("%d of %d connected, %d synced", res.Connected, n, res.Synced)
	}
	nodes := map[string]bool{}
	for _, sid := range res.SIDs {
		node, _, _ := strings.Cut(sid, ".")
		nodes[node] = true
	}
	if len(nodes) < 2 {
		t.Errorf("sessions all on one node: %v", res.SIDs)
	}
}
