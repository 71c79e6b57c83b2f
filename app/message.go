package app

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/parleyhq/parley"
)

// contentHash identifies what a send says, so a retry with the same
// client_msg_id is recognised and a reuse for other content refused.
func contentHash(r *parley.SendRequest) []byte {
	h := sha256.New()
	var n [8]byte
	var fc, fm parley.ID
	if r.ForwardOf != nil {
		fc, fm = r.ForwardOf.ConversationID, r.ForwardOf.MessageID
	}
	for _, v := range []int64{int64(r.ConversationID), int64(r.MediaID), int64(r.ReplyTo), int64(fc), int64(fm)} {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	h.Write([]byte(r.Type))
	h.Write([]byte{0})
	h.Write([]byte(r.Body))
	return h.Sum(nil)
}

// Send implements parley.MessageService: validate, authorise, store
// durably (the store returns only after the commit), then fan out. The
// returned message is the acknowledgement.
func (a *App) Send(ctx context.Context, c parley.Caller, req parley.SendRequest, queued func()) (*parley.Message, bool, error) {
	if queued != nil {
		// Every path out of Send before the append has its place releases
		// the caller too.
		var once sync.Once
		fn := queued
		queued = func() { once.Do(fn) }
		defer queued()
	}
	if err := req.Validate(a.cfg.MaxBodyBytes); err != nil {
		return nil, false, err
	}
	if !a.sends.allow(c.UserID.String()) {
		return nil, false, parley.Errorf(parley.ETOOMANY, "sending too fast; slow down")
	}
	ci, _, err := a.activeMemberOf(ctx, c, req.ConversationID)
	if err != nil {
		return nil, false, err
	}
	if ci.blocked {
		return nil, false, errUnreachable
	}
	if req.ReplyTo != 0 {
		_, err := a.message(ctx, req.ConversationID, req.ReplyTo)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil, false, parley.Errorf(parley.EINVALID, "reply_to is not a message of this conversation")
		}
		if err != nil {
			return nil, false, err // the store cannot say now: a retry may succeed
		}
	}
	// A retry of a forward is the same send even if the original was
	// edited in between: the hash is of the request as the client made it.
	hash := contentHash(&req)
	var media *parley.Media
	if req.ForwardOf != nil {
		src, err := a.forwardSource(ctx, c, req.ForwardOf)
		if err != nil {
			return nil, false, err
		}
		// The media is shared: the forward's log entry is what lets its
		// recipients read it.
		req.Type, req.Body, req.MediaID = src.Type, src.Body, src.MediaID
	} else if req.MediaID != 0 {
		if media, err = a.sendableMedia(ctx, c, &req); err != nil {
			return nil, false, err
		}
	}
	m := &parley.Message{
		ConversationID: req.ConversationID, SenderID: c.UserID, SenderDeviceID: c.DeviceID, ClientMsgID: req.ClientMsgID,
		Type: req.Type, Body: req.Body, MediaID: req.MediaID, ReplyTo: req.ReplyTo, Forwarded: req.ForwardOf != nil, CreatedAt: a.now.Now(),
	}
	got, created, err := a.store.AppendMessage(ctx, m, hash, queued)
	if err != nil {
		return nil, false, err
	}
	if media != nil && got.MediaID == media.ID {
		got.Media = media
	}
	// A message just stored has no reactions or edits yet: only its media
	// (a forward's, found by id) is left to attach. A retry's answer is
	// the message as it stands now.
	decorate := a.decorate
	if created {
		decorate = a.attachMedia
	}
	if err := decorate(ctx, []*parley.Message{got}); err != nil {
		return nil, false, err
	}
	if created {
		a.stats.MessagesStored.Add(1)
		a.fanOut(detach(ctx), ci, c, got)
		a.pushAfterSend(ci, c.UserID, got)
		if users := unarchivedBy(ci, got); len(users) > 0 {
			a.arranged(ctx, req.ConversationID, users)
		}
		// The message ends the members' "typing" for its sender: the next
		// typing starts anew, not coalesced into the last one.
		a.typing.forget(typingKey(c.UserID, req.ConversationID))
	} else {
		a.stats.SendsDuplicated.Add(1)
	}
	return got, created, nil
}

// message returns a log entry of the conversation that has not expired;
// ENOTFOUND for any other id, so an expired message looks like one that
// never existed.
func (a *App) message(ctx context.Context, conversationID, id parley.ID) (*parley.Message, error) {
	m, err := a.store.Message(ctx, id)
	if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
		return nil, err // the store cannot say now: a retry may succeed
	}
	if err != nil || m.ConversationID != conversationID || m.Expired(a.now.Now()) {
		return nil, parley.Errorf(parley.ENOTFOUND, "message not found")
	}
	return m, nil
}

// fanOut publishes a new log entry to every active member's devices except
// the sending device, which has it in its acknowledgement, and the
// sender's watermarks (sending reads everything before) to the members.
func (a *App) fanOut(ctx context.Context, ci *convInfo, c parley.Caller, m *parley.Message) {
	// The event is encoded in one buffer, its header then the message.
	e := parley.Event{Name: parley.EventMessage, ExceptDevice: c.DeviceID, ConversationID: m.ConversationID, Seq: m.Seq}
	payload, err := m.AppendJSON(parley.AppendEventHeader(make([]byte, 0, 320+len(m.Body)), &e))
	if err != nil {
		a.logger.Error("encode message", "err", err)
		return
	}
	users := ci.activeIDs()
	if f := a.cfg.OnFanOut; f != nil {
		f(len(users))
	}
	a.publishPayload(ctx, users, payload)
}

// seqInRange checks a client-given seq against what the member may see.
func seqInRange(seq int64) error {
	if seq < 0 {
		return parley.Errorf(parley.EINVALID, "seq must not be negative")
	}
	return nil
}

// MarkDelivered implements parley.MessageService.
func (a *App) MarkDelivered(ctx context.Context, c parley.Caller, conversationID parley.ID, seq int64) error {
	return a.mark(ctx, c, conversationID, seq, false)
}

// MarkRead implements parley.MessageService.
func (a *App) MarkRead(ctx context.Context, c parley.Caller, conversationID parley.ID, seq int64) error {
	return a.mark(ctx, c, conversationID, seq, true)
}

func (a *App) mark(ctx context.Context, c parley.Caller, id parley.ID, seq int64, read bool) error {
	if err := seqInRange(seq); err != nil {
		return err
	}
	ci, _, err := a.memberOf(ctx, c, id)
	if err != nil {
		return err
	}
	// The log may have grown since the cache was filled; only a seq past
	// the stored end is refused.
	if seq > ci.conv.LastSeq {
		conv, err := a.store.Conversation(ctx, id)
		if err != nil {
			return err
		}
		if seq > conv.LastSeq {
			return parley.Errorf(parley.EINVALID, "seq %d is past the end of the conversation (%d)", seq, conv.LastSeq)
		}
	}
	if err := a.store.RaiseDeviceCursor(ctx, c.DeviceID, id, seq); err != nil {
		return err
	}
	var r parley.Receipt
	var changed bool
	if read {
		r, changed, err = a.store.RaiseWatermarks(ctx, id, c.UserID, 0, seq)
	} else {
		r, changed, err = a.store.RaiseWatermarks(ctx, id, c.UserID, seq, 0)
	}
	if err != nil || !changed {
		return err
	}
	data, _ := json.Marshal(r)
	a.publish(detach(ctx), ci.activeIDs(), &parley.Event{Name: parley.EventReceipt, ConversationID: id, Data: data})
	return nil
}

// Recall implements parley.MessageService.
func (a *App) Recall(ctx context.Context, c parley.Caller, conversationID, messageID parley.ID) (*parley.Message, error) {
	ci, _, err := a.activeMemberOf(ctx, c, conversationID)
	if err != nil {
		return nil, err
	}
	orig, err := a.message(ctx, conversationID, messageID)
	if err != nil {
		return nil, err
	}
	if orig.SenderID != c.UserID {
		return nil, parley.Errorf(parley.EFORBIDDEN, "only the sender may recall a message")
	}
	if !orig.Type.Sent() {
		return nil, parley.Errorf(parley.EINVALID, "a %s entry cannot be recalled", orig.Type)
	}
	if orig.RecalledAt != nil {
		return orig, nil
	}
	now := a.now.Now()
	if now.Sub(orig.CreatedAt) > a.cfg.RecallWindow {
		return nil, parley.Errorf(parley.EFORBIDDEN, "messages can be recalled only within %s of sending", a.cfg.RecallWindow)
	}
	entry := &parley.Message{ConversationID: conversationID, SenderID: c.UserID, SenderDeviceID: c.DeviceID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: now}
	got, err := a.store.RecallMessage(ctx, entry)
	if parley.ErrorCode(err) == parley.ECONFLICT {
		return a.store.Message(ctx, messageID)
	}
	if err != nil {
		return nil, err
	}
	a.stats.MessagesStored.Add(1)
	if orig.MediaID != 0 {
		a.release(orig.MediaID)
	}
	pctx := detach(ctx)
	// The entry keeps the log dense for every device, the sender's included.
	a.fanOut(pctx, ci, parley.Caller{UserID: c.UserID}, entry)
	data, _ := json.Marshal(struct {
		ConversationID parley.ID `json:"conversation_id"`
		MessageID      parley.ID `json:"message_id"`
		Seq            int64     `json:"seq"`
	}{conversationID, got.ID, got.Seq})
	a.publish(pctx, ci.activeIDs(), &parley.Event{Name: parley.EventRecall, ConversationID: conversationID, Data: data})
	return got, nil
}

func typingKey(user, conversationID parley.ID) string {
	return user.String() + " " + conversationID.String()
}

// Typing implements parley.MessageService.
func (a *App) Typing(ctx context.Context, c parley.Caller, conversationID parley.ID) error {
	ci, _, err := a.activeMemberOf(ctx, c, conversationID)
	if err != nil {
		return err
	}
	if ci.blocked {
		return nil
	}
	if !a.typing.allow(typingKey(c.UserID, conversationID)) {
		return nil // the members were told a moment ago
	}
	others := make([]parley.ID, 0, len(ci.members))
	for _, u := range ci.activeIDs() {
		if u != c.UserID {
			others = append(others, u)
		}
	}
	data, _ := json.Marshal(struct {
		ConversationID parley.ID `json:"conversation_id"`
		UserID         parley.ID `json:"user_id"`
	}{conversationID, c.UserID})
	a.publish(ctx, others, &parley.Event{Name: parley.EventTyping, ConversationID: conversationID, Data: data})
	return nil
}

// LogPosition implements parley.MessageService.
func (a *App) LogPosition(ctx context.Context) (parley.LogPosition, error) {
	return a.store.LogPosition(ctx)
}

// StreamStarts implements parley.MessageService.
func (a *App) StreamStarts(ctx context.Context, conversationID parley.ID, positions []parley.LogPosition) ([]int64, error) {
	points := make([]parley.LogPoint, len(positions))
	for i, pos := range positions {
		points[i] = parley.LogPoint{ConversationID: conversationID, Position: pos}
	}
	return a.store.LastSeqsAt(ctx, points)
}

// syncPage is how many messages Sync reads per query.
const syncPage = 200

// Sync implements parley.MessageService.
func (a *App) Sync(ctx context.Context, c parley.Caller, q parley.SyncQuery, emit parley.Emit) error {
	cursors := q.Cursors
	if cursors == nil && q.Since == "" {
		var err error
		if cursors, err = a.store.DeviceCursors(ctx, c.DeviceID); err != nil {
			return err
		}
	}
	now := a.now.Now()
	ucs, err := a.store.UserConversations(ctx, c.UserID, parley.ConversationFilter{IncludeLeft: true, IncludeHidden: true, Now: now})
	if err != nil {
		return err
	}
	// Where each conversation starts is told first, for all of them, so a
	// replay that stops early can say where every conversation stands.
	// Those the cursors do not name start at Since, all read at once.
	froms := make([]int64, len(ucs))
	var since []parley.LogPoint
	var sinceAt []int
	for i, uc := range ucs {
		cur, ok := cursors[uc.Conversation.ID]
		froms[i] = cur
		if !ok && q.Since != "" {
			since = append(since, parley.LogPoint{ConversationID: uc.Conversation.ID, Position: q.Since})
			sinceAt = append(sinceAt, i)
		}
	}
	if len(since) > 0 {
		seqs, err := a.store.LastSeqsAt(ctx, since)
		if err != nil {
			return err
		}
		for j, i := range sinceAt {
			froms[i] = seqs[j]
		}
	}
	for i, uc := range ucs {
		froms[i] = max(froms[i], uc.Self.Floor())
		if err := emit(parley.EventSyncPoint, parley.SyncPoint{ConversationID: uc.Conversation.ID, Seq: froms[i]}); err != nil {
			return err
		}
	}
	for i, uc := range ucs {
		conv, self := uc.Conversation, uc.Self
		floor, ceiling := self.Floor(), self.Ceiling(conv.LastSeq)
		from := froms[i]
		changed := ceiling > from
		for from < ceiling {
			ms, err := a.store.Messages(ctx, conv.ID, parley.MessageFilter{Floor: floor, Ceiling: ceiling, Ascending: true, AfterSeq: from, Limit: syncPage, Now: now})
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				break
			}
			if err := a.decorate(ctx, ms); err != nil {
				return err
			}
			for _, m := range ms {
				if err := emit(parley.EventMessage, m); err != nil {
					return err
				}
			}
			from = ms[len(ms)-1].Seq
		}
		// Receipts: the peer's in a direct conversation, every member's in a
		// group that changed since the device's cursor.
		if conv.Type == parley.Direct || changed {
			ms, err := a.store.Members(ctx, conv.ID)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.UserID == c.UserID || !m.Active() {
					continue
				}
				r := parley.Receipt{ConversationID: conv.ID, UserID: m.UserID, DeliveredSeq: m.DeliveredSeq, ReadSeq: m.ReadSeq}
				if err := emit(parley.EventReceipt, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
