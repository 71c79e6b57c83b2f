package bustest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley"
)

// BusConfig says how to open the implementation under test.
type BusConfig struct {
	// NewNode opens a bus node. Every node it opens within one test shares a
	// backend: what one publishes reaches subscribers on all of them. The
	// suite closes the nodes it opens; NewNode may also register cleanups.
	NewNode func(t *testing.T) parley.Bus
	// MultiNode is true when several nodes can share a backend (Redis). An
	// in-process bus is one node by nature; the cross-node cases then do not
	// apply and are not run.
	MultiNode bool
	// LeakOptions are passed to goleak when checking that Close leaves no
	// goroutine behind, to ignore a library's goroutine known to end by
	// itself shortly after.
	LeakOptions []goleak.Option
}

// RunBus runs the parley.Bus conformance suite.
func RunBus(t *testing.T, cfg BusConfig) {
	cases := []struct {
		name  string
		multi bool
		fn    func(*testing.T, BusConfig)
	}{
		{"DeliversToEverySubscriber", false, testDeliversToEverySubscriber},
		{"DeliversAcrossNodes", true, testDeliversAcrossNodes},
		{"OrderPerTopicConcurrentPublishers", false, testOrderConcurrentPublishers},
		{"OrderPerTopicConcurrentPublishersAcrossNodes", true, testOrderConcurrentPublishers},
		{"OrderSinglePublisherBurst", false, testOrderBurst},
		{"OrderSinglePublisherBurstAcrossNodes", true, testOrderBurst},
		{"NoDeliveryAfterSubscriptionClose", false, testNoDeliveryAfterClose},
		{"NoDeliveryAfterCloseUnderTraffic", false, testNoDeliveryAfterCloseUnderTraffic},
		{"NoDeliveryAfterCloseUnderTrafficAcrossNodes", true, testNoDeliveryAfterCloseUnderTraffic},
		{"IndependentSubscriptions", false, testIndependentSubscriptions},
		{"ResubscribeAfterLastClose", false, testResubscribeAfterLastClose},
		{"ArbitraryBytes", false, testArbitraryBytes},
		{"ArbitraryBytesAcrossNodes", true, testArbitraryBytes},
		{"PayloadKeptBySubscriber", false, testPayloadKeptBySubscriber},
		{"PayloadKeptBySubscriberAcrossNodes", true, testPayloadKeptBySubscriber},
		{"OnePayloadManyTopics", false, testOnePayloadManyTopics},
		{"OnePayloadManyTopicsAcrossNodes", true, testOnePayloadManyTopics},
		{"PublishWithoutSubscribers", false, testPublishWithoutSubscribers},
		{"SubscriptionCloseTwice", false, testSubscriptionCloseTwice},
		{"ManyTopics", false, testManyTopics},
		{"ManyTopicsAcrossNodes", true, testManyTopics},
		{"ConcurrentSubscribeAndClose", false, testConcurrentSubscribeAndClose},
		{"CloseStopsEverything", false, testCloseStopsEverything},
	}
	for _, c := range cases {
		if c.multi && !cfg.MultiNode {
			continue
		}
		// Single-node cases see one node, even where nodes could be many.
		ccfg := cfg
		ccfg.MultiNode = c.multi
		t.Run(c.name, func(t *testing.T) { c.fn(t, ccfg) })
	}
}

// nodes opens n nodes that share a backend; with a single-node bus they
// are all the same node.
func nodes(t *testing.T, cfg BusConfig, n int) []parley.Bus {
	t.Helper()
	out := make([]parley.Bus, n)
	for i := range out {
		if i > 0 && !cfg.MultiNode {
			out[i] = out[0]
			continue
		}
		b := cfg.NewNode(t)
		t.Cleanup(func() { b.Close() })
		out[i] = b
	}
	return out
}

func mustSubscribe(t *testing.T, b parley.Bus, topic string, fn func([]byte)) parley.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), topic, fn)
	if err != nil {
		t.Fatalf("Subscribe %s: %v", topic, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPublish(t *testing.T, b parley.Bus, topic string, p []byte) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, p); err != nil {
		t.Fatalf("Publish %s: %v", topic, err)
	}
}

func testDeliversToEverySubscriber(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	topic, other := uniqueTopic(t, "a"), uniqueTopic(t, "b")
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range recs {
		mustSubscribe(t, b, topic, r.fn)
	}
	bystander := newRecorder()
	mustSubscribe(t, b, other, bystander.fn)
	const n = 10
	for i := range n {
		mustPublish(t, b, topic, msg(i))
	}
	for i, r := range recs {
		checkSeq(t, "subscriber "+string(rune('A'+i)), r.wait(t, n), n)
	}
	mustPublish(t, b, other, msg(0))
	checkSeq(t, "other topic", bystander.wait(t, 1), 1)
}

func testDeliversAcrossNodes(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	topic := uniqueTopic(t, "t")
	recA, recB := newRecorder(), newRecorder()
	mustSubscribe(t, ns[0], topic, recA.fn)
	mustSubscribe(t, ns[1], topic, recB.fn)
	// Each publish returns before the next starts, so every node sees them
	// in this order, whichever node published.
	const n = 20
	for i := range n {
		mustPublish(t, ns[i%2], topic, msg(i))
	}
	checkSeq(t, "node A", recA.wait(t, n), n)
	checkSeq(t, "node B", recB.wait(t, n), n)
}

func testOrderConcurrentPublishers(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	pub, sub := ns[0], ns[1]
	const topics, n = 8, 500
	recs := make([]*recorder, topics)
	names := make([]string, topics)
	for i := range recs {
		recs[i], names[i] = newRecorder(), uniqueTopic(t, "t")
		mustSubscribe(t, sub, names[i], recs[i].fn)
	}
	var wg sync.WaitGroup
	errs := make(chan error, topics)
	for i := range topics {
		wg.Go(func() {
			for j := range n {
				if err := pub.Publish(context.Background(), names[i], msg(j)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	for i, r := range recs {
		checkSeq(t, names[i], r.wait(t, n), n)
	}
}

func testOrderBurst(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	topic := uniqueTopic(t, "t")
	local, remote := newRecorder(), newRecorder()
	mustSubscribe(t, ns[0], topic, local.fn)
	if cfg.MultiNode {
		mustSubscribe(t, ns[1], topic, remote.fn)
	}
	const n = 5000
	for i := range n {
		mustPublish(t, ns[0], topic, msg(i))
	}
	checkSeq(t, "publishing node", local.wait(t, n), n)
	if cfg.MultiNode {
		checkSeq(t, "other node", remote.wait(t, n), n)
	}
}

func testNoDeliveryAfterClose(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	topic := uniqueTopic(t, "t")
	closing, barrier := newRecorder(), newRecorder()
	s := mustSubscribe(t, b, topic, closing.fn)
	mustSubscribe(t, b, topic, barrier.fn)
	mustPublish(t, b, topic, msg(0))
	closing.wait(t, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	closing.markClosed()
	for i := 1; i <= 5; i++ {
		mustPublish(t, b, topic, msg(i))
	}
	// Delivery keeps order per topic, so once the barrier subscription has
	// the last payload, a call to the closed one would have happened.
	checkSeq(t, "open subscription", barrier.wait(t, 6), 6)
	if late := closing.lateCalls(); late != 0 {
		t.Fatalf("fn called %d times after Subscription.Close returned", late)
	}
}

func testNoDeliveryAfterCloseUnderTraffic(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	topic := uniqueTopic(t, "t")
	barrier := newRecorder()
	mustSubscribe(t, ns[0], topic, barrier.fn)

	stop := make(chan struct{})
	var published atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if ns[1].Publish(context.Background(), topic, msg(i)) == nil {
				published.Add(1)
			}
		}
	})
	var recs []*recorder
	for range 50 {
		r := newRecorder()
		s, err := ns[0].Subscribe(context.Background(), topic, r.fn)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		r.wait(t, 1)
		if err := s.Close(); err != nil {
			t.Fatalf("Subscription.Close: %v", err)
		}
		r.markClosed()
		recs = append(recs, r)
	}
	close(stop)
	wg.Wait()
	// Wait until the open subscription saw every payload, so any late call
	// to a closed one would have been made by now.
	barrier.wait(t, int(published.Load()))
	for i, r := range recs {
		if late := r.lateCalls(); late != 0 {
			t.Fatalf("subscription %d: fn called %d times after Close returned", i, late)
		}
	}
}

func testIndependentSubscriptions(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	topic := uniqueTopic(t, "t")
	r1, r2, r3 := newRecorder(), newRecorder(), newRecorder()
	s1 := mustSubscribe(t, b, topic, r1.fn)
	mustSubscribe(t, b, topic, r2.fn)
	mustPublish(t, b, topic, msg(0))
	r1.wait(t, 1)
	r2.wait(t, 1)

	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, topic, msg(1))
	mustSubscribe(t, b, topic, r3.fn)
	mustPublish(t, b, topic, msg(2))
	checkSeq(t, "second subscription", r2.wait(t, 3), 3)
	// A payload published just before Subscribe may still be on its way to
	// a node and reach the new subscription too; what was published after
	// must.
	r3.waitFor(t, msg(2))
	if got3 := r3.payloads(); len(got3) > 2 || !bytes.Equal(got3[len(got3)-1], msg(2)) {
		t.Fatalf("third subscription got %q, want what was published after it", got3)
	}
	if got := r1.payloads(); len(got) != 1 {
		t.Fatalf("closed subscription got %d payloads, want 1", len(got))
	}
}

func testResubscribeAfterLastClose(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	topic := uniqueTopic(t, "t")
	for i := range 20 {
		r := newRecorder()
		s := mustSubscribe(t, b, topic, r.fn)
		mustPublish(t, b, topic, msg(i))
		got := r.wait(t, 1)
		if !bytes.Equal(got[0], msg(i)) {
			t.Fatalf("round %d: got %q, want %q", i, got[0], msg(i))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func testArbitraryBytes(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	topic := uniqueTopic(t, "t")
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	payloads := [][]byte{
		{},
		{0},
		[]byte("a\x00b\x00\x00"),
		{0xff, 0xfe, 0xc3, 0x28, 0x80},
		[]byte("\r\n*3\r\n$7\r\nmessage\r\n"),
		[]byte("message\x001\x002\x00\x00{}"),
		big,
	}
	local, remote := newRecorder(), newRecorder()
	mustSubscribe(t, ns[0], topic, local.fn)
	mustSubscribe(t, ns[1], topic, remote.fn)
	for _, p := range payloads {
		mustPublish(t, ns[0], topic, p)
	}
	for _, r := range []*recorder{local, remote} {
		got := r.wait(t, len(payloads))
		for i, p := range payloads {
			if !bytes.Equal(got[i], p) {
				t.Fatalf("payload %d: got %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i], len(p), p)
			}
		}
	}
}

// testPayloadKeptBySubscriber checks that what a subscriber received stays
// as it was while later payloads arrive: the bus never reuses a buffer it
// handed to a subscriber.
func testPayloadKeptBySubscriber(t *testing.T, cfg BusConfig) {
	bs := nodes(t, cfg, 2)
	pub, sub := bs[0], bs[0]
	if cfg.MultiNode {
		sub = bs[1]
	}
	topic := uniqueTopic(t, "t")
	r := newRecorder()
	mustSubscribe(t, sub, topic, r.fn)
	const n = 50
	for i := range n {
		mustPublish(t, pub, topic, msg(i))
	}
	checkSeq(t, "kept payloads", r.wait(t, n), n)
}

// testOnePayloadManyTopics publishes each payload to several topics, as a
// message's fan-out does: every topic's subscriber gets every payload,
// whole and in order.
func testOnePayloadManyTopics(t *testing.T, cfg BusConfig) {
	bs := nodes(t, cfg, 2)
	pub, sub := bs[0], bs[0]
	if cfg.MultiNode {
		sub = bs[1]
	}
	const topics, n = 5, 20
	rs := make([]*recorder, topics)
	names := make([]string, topics)
	for i := range rs {
		names[i] = uniqueTopic(t, fmt.Sprintf("t%d", i))
		rs[i] = newRecorder()
		mustSubscribe(t, sub, names[i], rs[i].fn)
	}
	for i := range n {
		p := msg(i)
		for _, name := range names {
			mustPublish(t, pub, name, p)
		}
	}
	for i, r := range rs {
		checkSeq(t, names[i], r.wait(t, n), n)
	}
}

func testPublishWithoutSubscribers(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	for i := range 10 {
		mustPublish(t, b, uniqueTopic(t, "nobody"), msg(i))
	}
}

func testSubscriptionCloseTwice(t *testing.T, cfg BusConfig) {
	b := nodes(t, cfg, 1)[0]
	topic := uniqueTopic(t, "t")
	s := mustSubscribe(t, b, topic, func([]byte) {})
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	r := newRecorder()
	mustSubscribe(t, b, topic, r.fn)
	mustPublish(t, b, topic, msg(0))
	checkSeq(t, "new subscription", r.wait(t, 1), 1)
}

func testManyTopics(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	const n = 2000
	recs := make([]*recorder, n)
	names := make([]string, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		recs[i], names[i] = newRecorder(), uniqueTopic(t, "many")
	}
	// Subscribe concurrently, as a node does when many users connect at
	// once.
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				s, err := ns[1].Subscribe(context.Background(), names[i], recs[i].fn)
				if err != nil {
					failed.Add(1)
					continue
				}
				t.Cleanup(func() { s.Close() })
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d Subscribe calls failed", failed.Load(), n)
	}
	for i := range n {
		mustPublish(t, ns[0], names[i], msg(i))
	}
	for i, r := range recs {
		got := r.wait(t, 1)
		if len(got) != 1 || !bytes.Equal(got[0], msg(i)) {
			t.Fatalf("topic %d: got %q, want %q", i, got, msg(i))
		}
	}
}

func testConcurrentSubscribeAndClose(t *testing.T, cfg BusConfig) {
	ns := nodes(t, cfg, 2)
	topics := []string{uniqueTopic(t, "a"), uniqueTopic(t, "b"), uniqueTopic(t, "c")}
	stop := make(chan struct{})
	var publisher, churners sync.WaitGroup
	publisher.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ns[0].Publish(context.Background(), topics[i%len(topics)], msg(i))
		}
	})
	for w := range 8 {
		churners.Go(func() {
			for i := range 100 {
				s, err := ns[1].Subscribe(context.Background(), topics[(w+i)%len(topics)], func([]byte) {})
				if err != nil {
					t.Errorf("Subscribe: %v", err)
					return
				}
				if err := s.Close(); err != nil {
					t.Errorf("Subscription.Close: %v", err)
				}
			}
		})
	}
	churners.Wait()
	close(stop)
	publisher.Wait()
	// After the churn every topic must still work for a new subscriber.
	for _, topic := range topics {
		r := newRecorder()
		mustSubscribe(t, ns[1], topic, r.fn)
		mustPublish(t, ns[0], topic, []byte("after"))
		r.waitFor(t, []byte("after"))
	}
}

func testCloseStopsEverything(t *testing.T, cfg BusConfig) {
	ignore := goleak.IgnoreCurrent()
	b := cfg.NewNode(t)
	topic := uniqueTopic(t, "t")
	r := newRecorder()
	s, err := b.Subscribe(context.Background(), topic, r.fn)
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, topic, msg(0))
	r.wait(t, 1)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r.markClosed()
	if err := b.Publish(context.Background(), topic, msg(1)); err == nil {
		t.Error("Publish after Close succeeded, want an error")
	}
	if _, err := b.Subscribe(context.Background(), topic, r.fn); err == nil {
		t.Error("Subscribe after Close succeeded, want an error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Subscription.Close after bus Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if late := r.lateCalls(); late != 0 {
		t.Errorf("fn called %d times after the bus closed", late)
	}
	goleak.VerifyNone(t, append(cfg.LeakOptions, ignore)...)
}
