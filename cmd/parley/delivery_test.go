package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
)

// TestLiveDeliveryWithoutSync is the delivery promise for a client that
// never syncs: every message committed after its socket connected reaches
// that socket exactly once, in seq order. The conversations already hold
// more messages than a page of history, the receivers never said what
// they have (their cursors are far behind), and two devices of each
// sender send at once with several sends in flight, so the messages of
// one group commit are published out of order. Each wave connects new
// receiving sockets, whose streams start anew.
func TestLiveDeliveryWithoutSync(t *testing.T) {
	const (
		pairs   = 16
		backlog = 250
		waves   = 3
		perDev  = 40
	)
	e := &deliveryEnv{t: t, url: "http://" + MustRunMain(t, testConfig(t)).Addr()}
	ps := make([]*deliveryPair, pairs)
	for i := range ps {
		ps[i] = e.pair(i)
		e.sendAll(ps[i], ps[i].senders[0], "backlog", backlog)
	}
	for wave := range waves {
		for _, p := range ps {
			p.connect(e)
		}
		var wg sync.WaitGroup
		for i, p := range ps {
			for d, s := range p.senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.sendAll(p, s, fmt.Sprintf("w%d-%d-%d", wave, i, d), perDev)
				}()
			}
		}
		wg.Wait()
		for _, p := range ps {
			p.check(t, wave, 2*perDev)
		}
	}
}

type deliveryEnv struct {
	t   *testing.T
	url string
}

// deliveryPair is a 1:1 conversation: a sender with two devices and a
// receiver whose socket records every message event it gets.
type deliveryPair struct {
	conv    parley.ID
	senders [2]*parleyclient.Socket
	token   string

	mu       sync.Mutex
	receiver *parleyclient.Socket
	start    int64   // the conversation's last seq when the receiver connected
	got      []int64 // the receiving socket's message events, in arrival order
	acked    []int64 // seqs acked since the receiver connected
}

func (e *deliveryEnv) login(handle string) *parleyclient.Client {
	e.t.Helper()
	ctx := context.Background()
	c := parleyclient.New(e.url, nil)
	if _, err := c.Register(ctx, parley.RegisterRequest{Handle: handle, Password: "password-" + handle}); err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
		e.t.Fatal(err)
	}
	if _, err := c.Login(ctx, parley.LoginRequest{Handle: handle, Password: "password-" + handle}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *deliveryEnv) dial(token string, handler func(parleyclient.Event)) *parleyclient.Socket {
	e.t.Helper()
	s, err := parleyclient.New(e.url, nil).WithToken(token).Dial(context.Background(), parleyclient.SocketConfig{Handler: handler, AckTimeout: 30 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func (e *deliveryEnv) pair(i int) *deliveryPair {
	e.t.Helper()
	recv := e.login(fmt.Sprintf("recv%d", i))
	me, err := recv.Me(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	a, b := e.login(fmt.Sprintf("send%d", i)), e.login(fmt.Sprintf("send%d", i))
	v, _, err := a.CreateConversation(context.Background(), parley.CreateConversationRequest{MemberIDs: []parley.ID{me.ID}})
	if err != nil {
		e.t.Fatal(err)
	}
	ignore := func(parleyclient.Event) {}
	return &deliveryPair{conv: v.ID, token: recv.Token(), senders: [2]*parleyclient.Socket{e.dial(a.Token(), ignore), e.dial(b.Token(), ignore)}}
}

// connect replaces the receiving socket with a new one.
func (p *deliveryPair) connect(e *deliveryEnv) {
	p.mu.Lock()
	old := p.receiver
	p.got, p.acked = nil, nil
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	v, err := parleyclient.New(e.url, nil).WithToken(p.token).Conversation(context.Background(), p.conv)
	if err != nil {
		e.t.Fatal(err)
	}
	s := e.dial(p.token, func(ev parleyclient.Event) {
		if m, ok := ev.Data.(*parley.Message); ok && m.ConversationID == p.conv {
			p.mu.Lock()
			p.got = append(p.got, m.Seq)
			p.mu.Unlock()
		}
	})
	p.mu.Lock()
	p.receiver, p.start = s, v.LastSeq
	p.mu.Unlock()
}

// sendAll sends n messages from s, ten in flight, and records the acked
// seqs.
func (e *deliveryEnv) sendAll(p *deliveryPair, s *parleyclient.Socket, tag string, n int) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, 10)
	for i := range n {
		slots <- struct{}{}
		wg.Add(1)
		req := &parley.SendRequest{ConversationID: p.conv, ClientMsgID: fmt.Sprintf("%s-%d", tag, i), Type: parley.TextMessage, Body: "hello"}
		err := s.SendAsync(req, 30*time.Second, func(m *parley.Message, err error) {
			defer wg.Done()
			<-slots
			if err != nil {
				e.t.Errorf("send %s: %v", req.ClientMsgID, err)
				return
			}
			p.mu.Lock()
			p.acked = append(p.acked, m.Seq)
			p.mu.Unlock()
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	wg.Wait()
}

// check waits until the receiving socket got want messages (or a minute
// passed), then checks it got every acked one once, in order, and none
// committed before it connected.
func (p *deliveryPair) check(t *testing.T, wave, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		p.mu.Lock()
		n := len(p.got)
		p.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	got, acked, start := slices.Clone(p.got), slices.Clone(p.acked), p.start
	p.mu.Unlock()
	slices.Sort(acked)
	seen := map[int64]int{}
	for i, s := range got {
		seen[s]++
		if seen[s] == 2 {
			t.Errorf("wave %d, conversation %s: message %d arrived twice", wave, p.conv, s)
		}
		if i > 0 && s < got[i-1] {
			t.Errorf("wave %d, conversation %s: message %d arrived after %d", wave, p.conv, s, got[i-1])
		}
		if s <= start {
			t.Errorf("wave %d, conversation %s: the socket got %d, committed before it connected (at %d)", wave, p.conv, s, start)
		}
	}
	var missing []int64
	for _, s := range acked {
		if seen[s] == 0 {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("wave %d, conversation %s: %d of %d acked messages (%d…%d) never arrived: %v",
			wave, p.conv, len(missing), len(acked), acked[0], acked[len(acked)-1], missing)
	}
}
