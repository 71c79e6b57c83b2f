package app

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// Push decisions.
//
// A stored message schedules, for each other active member, a check
// PushDelay later. Checks are kept per
// (member, conversation): a message arriving while one is pending joins
// it, so a burst of messages makes one check and at most one push per
// device, collapsed per conversation by the channel. When the check runs
// it reads the member's state afresh and skips the member when:
//
//   - it has no push registration;
//   - it left, muted the conversation, or may no longer see the message;
//   - its read watermark covers the burst's newest message (it read it on
//     another device, or replied);
//
// and then skips each device whose cursor covers that message: the device
// said `delivered`, so it has it over a live connection. A device that is
// not connected, or is connected but did not acknowledge in time (a phone
// that froze the app without closing its socket), gets one notification
// on its most recently registered address.
//
// Pending checks live in memory, bounded by MaxPendingPushes; beyond it
// new ones are dropped and counted. A lost check costs a notification,
// never a message: devices sync when opened.

// pushKey names a pending check.
type pushKey struct{ user, conv parley.ID }

// pendingPush is a burst waiting for its check.
type pendingPush struct {
	key pushKey
	due time.Time
	seq int64 // the burst's newest message
}

// pushScheduler holds the pending checks and runs them when due.
type pushScheduler struct {
	a       *App
	queue   parley.PushQueue
	delay   time.Duration
	max     int
	workers int

	mu       sync.Mutex
	pending  map[pushKey]*pendingPush
	order    []*pendingPush // by due time: the delay is constant
	head     int
	inflight int
	idle     *sync.Cond // signalled when inflight drops to zero

	wake chan struct{}
	work chan *pendingPush
	stop chan struct{}
	wg   sync.WaitGroup
}

func newPushScheduler(a *App, q parley.PushQueue) *pushScheduler {
	p := &pushScheduler{
		a: a, queue: q, delay: a.cfg.PushDelay, max: a.cfg.MaxPendingPushes, workers: a.cfg.PushWorkers,
		pending: make(map[pushKey]*pendingPush),
		wake:    make(chan struct{}, 1),
		work:    make(chan *pendingPush, 4*a.cfg.PushWorkers),
		stop:    make(chan struct{}),
	}
	p.idle = sync.NewCond(&p.mu)
	p.wg.Add(1 + p.workers)
	go p.loop()
	for range p.workers {
		go p.worker()
	}
	return p
}

// close stops the scheduler; pending checks are dropped.
func (p *pushScheduler) close() {
	close(p.stop)
	p.wg.Wait()
}

// schedule records that message seq was stored in the conversation for
// the given members.
func (p *pushScheduler) schedule(conv parley.ID, seq int64, users []parley.ID) {
	now := p.a.now.Now()
	p.mu.Lock()
	wasEmpty := p.head == len(p.order)
	for _, u := range users {
		k := pushKey{u, conv}
		if e := p.pending[k]; e != nil {
			e.seq = max(e.seq, seq)
			continue
		}
		if len(p.pending) >= p.max {
			p.a.stats.PushesDropped.Add(1)
			continue
		}
		e := &pendingPush{key: k, due: now.Add(p.delay), seq: seq}
		p.pending[k] = e
		p.order = append(p.order, e)
	}
	p.mu.Unlock()
	if wasEmpty {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// takeDue removes the checks due at now and returns them, and the due
// time of the next one (zero when none is pending). The caller runs them
// and calls done for each.
func (p *pushScheduler) takeDue(now time.Time) (due []*pendingPush, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head < len(p.order) {
		e := p.order[p.head]
		if e.due.After(now) {
			next = e.due
			break
		}
		p.order[p.head] = nil
		p.head++
		delete(p.pending, e.key)
		due = append(due, e)
	}
	p.inflight += len(due)
	if p.head == len(p.order) {
		p.order, p.head = p.order[:0], 0
	} else if p.head > 1024 && p.head > len(p.order)/2 {
		p.order = append(p.order[:0], p.order[p.head:]...)
		p.head = 0
	}
	return due, next
}

func (p *pushScheduler) done() {
	p.mu.Lock()
	p.inflight--
	if p.inflight == 0 {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
}

func (p *pushScheduler) loop() {
	defer p.wg.Done()
	defer close(p.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := p.takeDue(p.a.now.Now())
		for i, e := range due {
			select {
			case p.work <- e:
			case <-p.stop:
				for range due[i:] {
					p.done()
				}
				return
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			// The app's clock says when; the wait itself is real time.
			wait = max(next.Sub(p.a.now.Now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-p.wake:
		case <-p.stop:
			return
		}
	}
}

func (p *pushScheduler) worker() {
	defer p.wg.Done()
	for e := range p.work {
		select {
		case <-p.stop: // shutting down: what is left is dropped
		default:
			p.check(context.Background(), e)
		}
		p.done()
	}
}

// runDue runs the checks due now on the calling goroutine and waits until
// none is running anywhere: tests use it with a clock they move.
func (p *pushScheduler) runDue() {
	due, _ := p.takeDue(p.a.now.Now())
	for _, e := range due {
		p.check(context.Background(), e)
		p.done()
	}
	p.mu.Lock()
	for p.inflight > 0 {
		p.idle.Wait()
	}
	p.mu.Unlock()
}

// check decides the pushes of one burst and queues them.
func (p *pushScheduler) check(ctx context.Context, e *pendingPush) {
	a := p.a
	defer a.stats.PushChecks.Add(1) // counted once decided
	fail := func(err error) {
		if ctx.Err() == nil {
			a.logger.Warn("push check", "user", e.key.user, "conversation", e.key.conv, "err", err)
		}
	}
	regs, err := a.store.PushRegistrations(ctx, e.key.user)
	if err != nil {
		fail(err)
		return
	}
	if len(regs) == 0 {
		return
	}
	m, err := a.store.Member(ctx, e.key.conv, e.key.user)
	if err != nil {
		if parley.ErrorCode(err) != parley.ENOTFOUND {
			fail(err)
		}
		return
	}
	if !m.Active() || m.Muted || m.ReadSeq >= e.seq || !m.Visible(e.seq) {
		return
	}
	// The newest device address per device: a device gets one push.
	latest := make(map[parley.ID]*parley.PushRegistration)
	var devices []parley.ID
	for _, r := range regs {
		if cur, ok := latest[r.DeviceID]; !ok || r.CreatedAt.After(cur.CreatedAt) || r.CreatedAt.Equal(cur.CreatedAt) && r.ID > cur.ID {
			if !ok {
				devices = append(devices, r.DeviceID)
			}
			latest[r.DeviceID] = r
		}
	}
	var targets []*parley.PushRegistration
	for _, d := range devices {
		cursors, err := a.store.DeviceCursors(ctx, d)
		if err != nil {
			fail(err)
			return
		}
		if cursors[e.key.conv] < e.seq {
			targets = append(targets, latest[d])
		}
	}
	if len(targets) == 0 {
		return
	}
	n, err := a.notification(ctx, e, m)
	if err != nil {
		fail(err)
		return
	}
	if n == nil {
		return
	}
	for _, r := range targets {
		if p.queue.Enqueue(r, n) {
			a.stats.PushesQueued.Add(1)
		} else {
			a.stats.PushesDropped.Add(1)
		}
	}
}

// notification builds what a burst's push says, from the newest message;
// nil when there is nothing to announce.
func (a *App) notification(ctx context.Context, e *pendingPush, m *parley.Member) (*parley.PushNotification, error) {
	ms, err := a.store.Messages(ctx, e.key.conv, parley.MessageFilter{Floor: e.seq - 1, Ceiling: e.seq, Limit: 1, Now: a.now.Now()})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, nil // removed by retention, or expired, meanwhile
	}
	msg := ms[0]
	users, err := a.store.Users(ctx, []parley.ID{e.key.user, msg.SenderID})
	if err != nil {
		return nil, err
	}
	var recipient, sender *parley.User
	for _, u := range users {
		if u.ID == e.key.user {
			recipient = u
		}
		if u.ID == msg.SenderID {
			sender = u
		}
	}
	if recipient == nil || sender == nil {
		return nil, nil
	}
	unread, err := a.unread(ctx, e.key.conv, m, e.seq)
	if err != nil {
		return nil, err
	}
	n := &parley.PushNotification{
		ConversationID: e.key.conv, Seq: e.seq, SenderID: sender.ID, SenderName: sender.Name(),
		CollapseKey: parley.PushCollapseKey(e.key.conv), Unread: unread,
	}
	if ci, err := a.conv(ctx, e.key.conv); err == nil && ci.conv.Type == parley.Group {
		n.Title = ci.conv.Title
	}
	if recipient.PushPreviews && msg.RecalledAt == nil {
		n.Preview = preview(msg.Body)
	}
	return n, nil
}

// preview cuts a message body to a one-line excerpt.
func preview(body string) string {
	s := strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(s) <= parley.MaxPushPreviewRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == parley.MaxPushPreviewRunes-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// pushAfterSend schedules the checks of a newly stored message: for every
// active member but the sender. Whether a member muted the conversation
// is left to the check, which reads it from the store: the cached
// membership may be older than a mute.
func (a *App) pushAfterSend(ci *convInfo, sender parley.ID, m *parley.Message) {
	if a.push == nil {
		return
	}
	users := make([]parley.ID, 0, len(ci.members))
	for _, u := range ci.activeIDs() {
		if u != sender {
			users = append(users, u)
		}
	}
	a.push.schedule(m.ConversationID, m.Seq, users)
}

var errPushDisabled = parley.Errorf(parley.EINVALID, "push notifications are not configured on this server")

// RegisterPush implements parley.PushService.
func (a *App) RegisterPush(ctx context.Context, c parley.Caller, reg parley.PushRegistration) (*parley.PushRegistration, bool, error) {
	if a.pushQueue == nil {
		return nil, false, errPushDisabled
	}
	reg.ID, reg.UserID, reg.DeviceID, reg.CreatedAt = 0, c.UserID, c.DeviceID, a.now.Now()
	if err := reg.Validate(); err != nil {
		return nil, false, err
	}
	if err := a.pushQueue.Check(&reg); err != nil {
		return nil, false, err
	}
	regs, err := a.store.PushRegistrations(ctx, c.UserID)
	if err != nil {
		return nil, false, err
	}
	mine := 0
	for _, r := range regs {
		if r.DeviceID == c.DeviceID && (r.Kind != reg.Kind || r.Endpoint != reg.Endpoint) {
			mine++
		}
	}
	if mine >= parley.MaxPushRegistrationsPerDevice {
		return nil, false, parley.Errorf(parley.ETOOMANY, "a device may have at most %d push registrations", parley.MaxPushRegistrationsPerDevice)
	}
	created, err := a.store.SavePushRegistration(ctx, &reg)
	if err != nil {
		return nil, false, err
	}
	return &reg, created, nil
}

// UnregisterPush implements parley.PushService.
func (a *App) UnregisterPush(ctx context.Context, c parley.Caller, kind parley.PushKind, endpoint string) error {
	regs, err := a.store.PushRegistrations(ctx, c.UserID)
	if err != nil {
		return err
	}
	for _, r := range regs {
		if r.Kind == kind && r.Endpoint == endpoint {
			return a.store.DeletePushRegistration(ctx, r.ID)
		}
	}
	return parley.Errorf(parley.ENOTFOUND, "no such push registration")
}

// PushRegistrations implements parley.PushService.
func (a *App) PushRegistrations(ctx context.Context, c parley.Caller) ([]*parley.PushRegistration, error) {
	regs, err := a.store.PushRegistrations(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]*parley.PushRegistration, 0, len(regs))
	for _, r := range regs {
		if r.DeviceID == c.DeviceID {
			out = append(out, r)
		}
	}
	return out, nil
}

// PushGone deletes a registration its channel reported dead. The push
// dispatcher calls it.
func (a *App) PushGone(ctx context.Context, reg *parley.PushRegistration) {
	a.stats.PushRegistrationsRemoved.Add(1)
	if err := a.store.DeletePushRegistration(ctx, reg.ID); err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
		a.logger.Warn("delete dead push registration", "registration", reg.ID, "err", err)
	}
}
