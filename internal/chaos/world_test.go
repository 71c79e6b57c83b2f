package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/client/clienttest"
	"github.com/parleyhq/parley/internal/faultnet"
)

// node is a parley process that clients reach through its front proxy,
// so it can be killed and started again (on another port) while clients
// keep one address.
type node struct {
	name   string
	bin    string
	dir    string
	args   []string
	fronts []*faultnet.Proxy

	mu    sync.Mutex
	proc  *clienttest.Node
	kills int
}

// mustNode starts a node with fronts front proxies for its clients.
func mustNode(t *testing.T, name, bin string, fronts int, args ...string) *node {
	t.Helper()
	n := &node{name: name, bin: bin, dir: t.TempDir(), args: append([]string{"--event-rate", "0"}, args...)}
	for range fronts {
		p, err := faultnet.Listen("127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		n.fronts = append(n.fronts, p)
	}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p != nil {
			if err := p.Stop(); err != nil {
				t.Logf("%s: %v", name, err)
			}
			if t.Failed() {
				t.Logf("%s log (last start):\n%s", name, tail(p.Log(), 1500))
			}
		}
	})
	return n
}

// start runs the node on its data and points its front proxy at it.
func (n *node) start() error {
	p, err := clienttest.StartNode(n.bin, n.dir, n.args...)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	for _, f := range n.fronts {
		f.SetTarget(u.Host)
	}
	return nil
}

// kill ends the process with SIGKILL, as a crash would.
func (n *node) kill() {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	n.kills++
	n.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil
}

// frontURL is the node's address as clients see it through front i.
func (n *node) frontURL(i int) string { return "http://" + n.fronts[i%len(n.fronts)].Addr() }

// directURL is the node's own address, bypassing faults.
func (n *node) directURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return ""
	}
	return n.proc.URL
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// user is an account; its devices are its logins.
type user struct {
	id      parley.ID
	handle  string
	devices []*device
	convs   []parley.ID
}

// sendRec is one send of the workload, from its first emit to its ack.
type sendRec struct {
	cmid   string
	dev    *device
	conv   parley.ID
	issued time.Time // before the first emit

	mu    sync.Mutex
	acked *parley.Message
}

func (s *sendRec) ack() *parley.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// violation kinds counted in the summary.
const (
	kindLost     = "lost"
	kindDup      = "duplicated"
	kindOrder    = "out of order"
	kindReceipt  = "receipt backwards"
	kindConflict = "conflict"
	kindStuck    = "no recovery"
	kindRefused  = "refused"
)

// world is one run: its nodes, users, devices, conversations, what was
// sent and what went wrong.
type world struct {
	t     *testing.T
	seed  uint64
	start time.Time
	nodes []*node

	users []*user
	devs  []*device
	convs []parley.ID

	ops, faults, kills, syncs, reconnects atomic.Int64
	events, receiptEvents                 atomic.Int64

	// sendsUntil is when sends stop retrying (unix nanos): the end of the
	// recovery phase.
	sendsUntil atomic.Int64
	inflight   sync.WaitGroup

	mu         sync.Mutex
	sends      map[string]*sendRec
	recalls    map[parley.ID]time.Time // original message id → first recall issued
	violations []string
	counts     map[string]int
}

func newWorld(t *testing.T, seed uint64) *world {
	return &world{t: t, seed: seed, start: time.Now(),
		sends: map[string]*sendRec{}, recalls: map[parley.ID]time.Time{}, counts: map[string]int{}}
}

// rng returns a generator of the run's seed for one actor: each actor's
// decisions replay with the seed whatever the others do.
func (w *world) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(w.seed, stream))
}

// violate records a broken promise.
func (w *world) violate(kind, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[kind]++
	if len(w.violations) < 200 {
		w.violations = append(w.violations, fmt.Sprintf("[%s] %s: ", time.Since(w.start).Round(time.Millisecond), kind)+fmt.Sprintf(format, args...))
	}
}

func (w *world) count(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[kind]
}

// setup registers users, logs their devices in (through the nodes' front
// proxies, round robin), and creates the conversations: 1:1 pairs and
// groups. nUsers users; the first multi of them have two devices.
func (w *world) setup(nUsers, multi int, neverSync func(u, d int) bool) {
	t := w.t
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := client.New(w.nodes[0].directURL(), nil)
	const pw = "chaos-password"
	k := 0
	for i := 0; i < nUsers; i++ {
		h := fmt.Sprintf("user%d", i)
		u, err := api.Register(ctx, parley.RegisterRequest{Handle: h, Password: pw})
		if err != nil {
			t.Fatalf("register %s: %v", h, err)
		}
		us := &user{id: u.ID, handle: h}
		nd := 1
		if i < multi {
			nd = 2
		}
		for j := 0; j < nd; j++ {
			n := w.nodes[k%len(w.nodes)]
			c := client.New(n.frontURL(k/len(w.nodes)), nil)
			s, err := client.New(w.nodes[0].directURL(), nil).Login(ctx, parley.LoginRequest{Handle: h, Password: pw, DeviceName: fmt.Sprintf("d%d", j)})
			if err != nil {
				t.Fatalf("login %s: %v", h, err)
			}
			c.SetToken(s.Token)
			d := &device{w: w, name: fmt.Sprintf("%s/d%d", h, j), user: us, id: s.DeviceID, node: n, http: c,
				neverSync: neverSync(i, j), rng: w.rng(uint64(1000 + k)),
				hist: map[parley.ID]map[int64]parley.ID{}, contig: map[parley.ID]int64{}, receipts: map[parley.ID]map[parley.ID]parley.Receipt{}}
			us.devices = append(us.devices, d)
			w.devs = append(w.devs, d)
			k++
		}
		w.users = append(w.users, us)
	}
	owner := func(u *user) *client.Client {
		return client.New(w.nodes[0].directURL(), nil).WithToken(u.devices[0].http.Token())
	}
	addConv := func(v *parley.ConversationView, members []*user) {
		w.convs = append(w.convs, v.ID)
		for _, m := range members {
			m.convs = append(m.convs, v.ID)
		}
	}
	// 1:1: each user with the next, around the ring.
	for i, u := range w.users {
		peer := w.users[(i+1)%len(w.users)]
		if len(w.users) == 2 && i == 1 {
			break
		}
		v, _, err := owner(u).CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{peer.id}})
		if err != nil {
			t.Fatalf("create 1:1: %v", err)
		}
		addConv(v, []*user{u, peer})
	}
	// Groups: everyone, and the first half.
	for gi, members := range [][]*user{w.users, w.users[:max(3, len(w.users)/2)]} {
		var ids []parley.ID
		for _, m := range members[1:] {
			ids = append(ids, m.id)
		}
		v, _, err := owner(members[0]).CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: ids, Title: fmt.Sprintf("group %d", gi)})
		if err != nil {
			t.Fatalf("create group: %v", err)
		}
		addConv(v, members)
	}
	for _, d := range w.devs {
		d.start()
	}
	// A test that stops early still ends every device and every retry.
	t.Cleanup(func() {
		w.sendsUntil.Store(0)
		for _, d := range w.devs {
			d.close()
		}
	})
}

// membersOf returns the devices whose user is in conv.
func (w *world) devicesIn(conv parley.ID) []*device {
	var out []*device
	for _, d := range w.devs {
		for _, c := range d.user.convs {
			if c == conv {
				out = append(out, d)
			}
		}
	}
	return out
}

// serverLog reads a conversation's whole log over HTTP, in pages of 200,
// from a node directly, retrying while the service recovers.
func (w *world) serverLog(conv parley.ID) ([]*parley.Message, error) {
	reader := w.devicesIn(conv)[0]
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out []*parley.Message
		var err error
		var after int64
		for _, n := range w.nodes {
			if u := n.directURL(); u != "" {
				c := client.New(u, nil).WithToken(reader.http.Token())
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					var ms []*parley.Message
					ms, err = c.History(ctx, conv, parley.HistoryQuery{AfterSeq: after, Ascending: true, Limit: parley.MaxHistoryLimit})
					cancel()
					if err != nil || len(ms) == 0 {
						break
					}
					out = append(out, ms...)
					after = ms[len(ms)-1].Seq
				}
				break
			}
		}
		if err == nil && (len(out) > 0 || after == 0) {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("read the log of %s: %v", conv, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// summary is the line a run ends with.
func (w *world) summary() string {
	var kills int
	for _, n := range w.nodes {
		n.mu.Lock()
		kills += n.kills
		n.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var acked int
	for _, s := range w.sends {
		if s.ack() != nil {
			acked++
		}
	}
	var other []string
	for k, v := range w.counts {
		switch k {
		case kindLost, kindDup, kindOrder:
		default:
			other = append(other, fmt.Sprintf("%d %s", v, k))
		}
	}
	sort.Strings(other)
	s := fmt.Sprintf("seed %d: %d operations (%d sends acknowledged, %d recalls), %d faults, %d node kills, %d syncs, %d reconnections over %d devices, %d message and %d receipt events checked; %d lost, %d duplicated, %d out of order",
		w.seed, w.ops.Load(), acked, len(w.recalls), w.faults.Load(), kills, w.syncs.Load(), w.reconnects.Load(), len(w.devs), w.events.Load(), w.receiptEvents.Load(),
		w.counts[kindLost], w.counts[kindDup], w.counts[kindOrder])
	if len(other) > 0 {
		s += "; " + strings.Join(other, ", ")
	}
	return s
}
