package chaos_test

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// convLog is a conversation's log as the server has it after recovery,
// with what the workload knows of each entry.
type convLog struct {
	id   parley.ID
	msgs []*parley.Message // index seq-1
	// issued is when the send (or, for a recall entry, the recall) behind
	// each seq was first emitted; zero when unknown.
	issued map[int64]time.Time
	// sender is the device whose send made each seq (not for recalls).
	sender map[int64]*device
}

func (l *convLog) last() int64 { return int64(len(l.msgs)) }

// checkLogs reads every conversation's log and checks it against the
// acknowledged sends: dense seqs, every ack present once with its seq and
// id, no client_msg_id twice.
func (w *world) checkLogs() map[parley.ID]*convLog {
	logs := map[parley.ID]*convLog{}
	byCmid := map[string]*parley.Message{}
	for _, conv := range w.convs {
		ms, err := w.serverLog(conv)
		if err != nil {
			w.violate(kindStuck, "%v", err)
			continue
		}
		l := &convLog{id: conv, issued: map[int64]time.Time{}, sender: map[int64]*device{}}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				w.violate(kindLost, "conversation %s: log not dense, position %d holds seq %d", conv, i+1, m.Seq)
				break
			}
			l.msgs = append(l.msgs, m)
			if m.ClientMsgID != "" {
				if prev, dup := byCmid[m.ClientMsgID]; dup {
					w.violate(kindDup, "conversation %s: client_msg_id %s stored twice, seq %d and seq %d", conv, m.ClientMsgID, prev.Seq, m.Seq)
				}
				byCmid[m.ClientMsgID] = m
			}
		}
		logs[conv] = l
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for cmid, s := range w.sends {
		m := byCmid[cmid]
		a := s.ack()
		switch {
		case m == nil && a != nil:
			w.counts[kindLost]++
			w.violations = append(w.violations, fmt.Sprintf("%s: acknowledged message %s (seq %d of %s, id %s) is not in the log", kindLost, cmid, a.Seq, a.ConversationID, a.ID))
		case m != nil && a != nil && (m.Seq != a.Seq || m.ID != a.ID):
			w.counts[kindConflict]++
			w.violations = append(w.violations, fmt.Sprintf("%s: message %s acknowledged as seq %d id %s, stored as seq %d id %s", kindConflict, cmid, a.Seq, a.ID, m.Seq, m.ID))
		}
		if m != nil && m.ConversationID == s.conv {
			if l := logs[s.conv]; l != nil {
				l.issued[m.Seq] = s.issued
				l.sender[m.Seq] = s.dev
			}
		}
	}
	for _, l := range logs {
		for _, m := range l.msgs {
			if m.Type == parley.RecallEntry {
				if at, ok := w.recalls[m.RecallOf]; ok {
					l.issued[m.Seq] = at
				}
			}
		}
	}
	return logs
}

// optional reports whether a device may lack seq on a socket: its own
// sends reach it in their acks. (Its own recall entries come as events.)
func (l *convLog) optional(d *device, seq int64) bool {
	return l.sender[seq] == d
}

// checkSockets checks every socket of a device that never syncs against
// the log: no gap between the lowest and highest seq it received, and
// every message issued after the socket authenticated.
func (w *world) checkSockets(d *device, logs map[parley.ID]*convLog) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		for _, conv := range d.user.convs {
			l := logs[conv]
			if l == nil {
				continue
			}
			got := c.got[conv]
			var lo, hi int64
			for s := range got {
				if lo == 0 || s < lo {
					lo = s
				}
				hi = max(hi, s)
			}
			if !d.neverSync {
				// A sync tells the server the device holds everything up
				// to its cursor, so the replay may rightly start above
				// what this socket received live: a syncing socket is
				// held to order, and its device to the log (checkHistory).
				continue
			}
			var gap []int64
			for s := lo; s > 0 && s <= hi && s <= l.last(); s++ {
				if !got[s] && !l.optional(d, s) {
					gap = append(gap, s)
				}
			}
			if len(gap) > 0 {
				w.violate(kindLost, "%s socket %d: conversation %s: a gap: received seqs %s but not %s in between", d.name, c.n, conv, ranges(c.seqs[conv]), ranges(gap))
			}
			if c.start.IsZero() {
				continue
			}
			alive := c.end.IsZero()
			var missing []int64
			for s := int64(1); s <= l.last(); s++ {
				at := l.issued[s]
				if got[s] || l.optional(d, s) || at.IsZero() || !at.After(c.start) {
					continue
				}
				// Below the lowest seq received, or above the highest on a
				// socket still up; the gap in between is reported above.
				if s < lo || (alive && s > hi) {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 {
				state := "still up at the end"
				if !alive {
					state = fmt.Sprintf("dropped after %s, highest seq received %d", c.end.Sub(c.start).Round(time.Millisecond), hi)
				}
				w.violate(kindLost, "%s socket %d (never syncs, %s): conversation %s: messages issued after the socket authenticated never arrived on it: seqs %s (received %s)",
					d.name, c.n, state, conv, ranges(missing), ranges(c.seqs[conv]))
			}
		}
	}
}

// requiredPending reports whether a live socket of a device that never
// syncs still waits for a message it must get, for the quiescence wait.
func (d *device) requiredPending(logs map[parley.ID]*convLog) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cur
	if !d.neverSync || c == nil || c.start.IsZero() || !c.end.IsZero() {
		return false
	}
	for _, conv := range d.user.convs {
		l := logs[conv]
		if l == nil {
			continue
		}
		for s := int64(1); s <= l.last(); s++ {
			at := l.issued[s]
			if !c.got[conv][s] && !l.optional(d, s) && !at.IsZero() && at.After(c.start) {
				return true
			}
		}
	}
	return false
}

// checkHistory compares the device's history with the log of every
// conversation of its user.
func (w *world) checkHistory(d *device, logs map[parley.ID]*convLog) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, conv := range d.user.convs {
		l := logs[conv]
		if l == nil {
			continue
		}
		h := d.hist[conv]
		var missing, wrong []int64
		for _, m := range l.msgs {
			id, ok := h[m.Seq]
			switch {
			case !ok:
				missing = append(missing, m.Seq)
			case id != m.ID:
				wrong = append(wrong, m.Seq)
			}
		}
		var extra []int64
		for s := range h {
			if s > l.last() {
				extra = append(extra, s)
			}
		}
		if len(missing) > 0 {
			w.violate(kindLost, "%s: conversation %s: history lacks seqs %s of the log's %d after its final sync (from cursor %d, caught up)", d.name, conv, ranges(missing), l.last(), d.finalCursors[conv])
		}
		if len(wrong) > 0 {
			w.violate(kindConflict, "%s: conversation %s: history holds other messages than the log at seqs %s", d.name, conv, ranges(wrong))
		}
		if len(extra) > 0 {
			w.violate(kindConflict, "%s: conversation %s: history holds seqs %s beyond the log's last %d", d.name, conv, ranges(extra), l.last())
		}
	}
}

// ranges writes seqs compactly: "1-4,7,9-12" (sorted, without repeats);
// long lists keep their ends.
func ranges(seqs []int64) string {
	if len(seqs) == 0 {
		return "none"
	}
	s := append([]int64(nil), seqs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] <= s[j]+1 {
			j++
		}
		if s[i] == s[j] {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	if len(parts) > 12 {
		parts = append(append(parts[:6:6], fmt.Sprintf("…(%d runs)…", len(parts)-12)), parts[len(parts)-6:]...)
	}
	return strings.Join(parts, ",")
}

// recent writes the last arrivals of a socket in arrival order.
func recent(seqs []int64) string {
	if len(seqs) > 10 {
		seqs = seqs[len(seqs)-10:]
	}
	return strings.Trim(fmt.Sprint(seqs), "[]")
}
