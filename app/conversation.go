package app

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

var errNoConversation = parley.Errorf(parley.ENOTFOUND, "conversation not found")

// conv returns the conversation with its memberships, from the cache when
// fresh.
func (a *App) conv(ctx context.Context, id parley.ID) (*convInfo, error) {
	if id <= 0 {
		return nil, errNoConversation
	}
	ci, gen := a.members.get(id)
	if ci != nil {
		return ci, nil
	}
	c, err := a.store.Conversation(ctx, id)
	if err != nil {
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil, errNoConversation
		}
		return nil, err
	}
	ms, err := a.store.Members(ctx, id)
	if err != nil {
		return nil, err
	}
	ci = &convInfo{conv: c, members: ms, loadedAt: a.now.Now()}
	if c.Type == parley.Direct && len(ms) == 2 {
		for _, pair := range [][2]parley.ID{{ms[0].UserID, ms[1].UserID}, {ms[1].UserID, ms[0].UserID}} {
			b, err := a.store.Blocked(ctx, pair[0], pair[1])
			if err != nil {
				return nil, err
			}
			ci.blocked = ci.blocked || b
		}
	}
	a.members.put(id, ci, gen)
	return ci, nil
}

// memberOf returns the conversation and the caller's membership (active or
// left); ENOTFOUND when the caller was never a member, so a conversation
// one cannot see looks like one that does not exist.
func (a *App) memberOf(ctx context.Context, c parley.Caller, id parley.ID) (*convInfo, *parley.Member, error) {
	ci, err := a.conv(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	m := ci.member(c.UserID)
	if m == nil {
		return nil, nil, errNoConversation
	}
	return ci, m, nil
}

// activeMemberOf is memberOf for actions that need an active member.
func (a *App) activeMemberOf(ctx context.Context, c parley.Caller, id parley.ID) (*convInfo, *parley.Member, error) {
	ci, m, err := a.memberOf(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	if !m.Active() {
		return nil, nil, parley.Errorf(parley.EFORBIDDEN, "you are no longer a member of this conversation")
	}
	return ci, m, nil
}

// Conversations implements parley.ConversationService. The list is the
// pinned conversations (at most MaxPinned) followed by the others, each
// read by its own index-driven query: a page takes what it covers of the
// pinned ones and the rest from the others, offset by how many pinned
// ones the pages before it took.
func (a *App) Conversations(ctx context.Context, c parley.Caller, q parley.ConversationListQuery) ([]*parley.ConversationView, error) {
	pageSize, pageNumber := q.PageSize, q.PageNumber
	if pageSize <= 0 {
		pageSize = 20
	}
	if pageSize > 100 {
		return nil, parley.Errorf(parley.EINVALID, "page_size must be at most 100")
	}
	if pageNumber <= 0 {
		pageNumber = 1
	}
	offset := (pageNumber - 1) * pageSize
	f := parley.ConversationFilter{IncludeLeft: true, ExcludeArchived: !q.Archived, Now: a.now.Now()}
	pf := f
	pf.OnlyPinned = true
	pinned, err := a.store.UserConversations(ctx, c.UserID, pf)
	if err != nil {
		return nil, err
	}
	var ucs []*parley.UserConversation
	if offset < len(pinned) {
		ucs = pinned[offset:min(len(pinned), offset+pageSize)]
	}
	if len(ucs) < pageSize {
		rf := f
		rf.ExcludePinned, rf.Limit, rf.Offset = true, pageSize-len(ucs), max(0, offset-len(pinned))
		rest, err := a.store.UserConversations(ctx, c.UserID, rf)
		if err != nil {
			return nil, err
		}
		ucs = append(ucs, rest...)
	}
	return a.views(ctx, c, ucs)
}

// Conversation implements parley.ConversationService.
func (a *App) Conversation(ctx context.Context, c parley.Caller, id parley.ID) (*parley.ConversationView, error) {
	_, m, err := a.memberOf(ctx, c, id)
	if err != nil {
		return nil, err
	}
	conv, err := a.store.Conversation(ctx, id)
	if err != nil {
		return nil, err
	}
	uc := &parley.UserConversation{Conversation: conv, Self: *m}
	if fresh, err := a.store.Member(ctx, id, c.UserID); err == nil {
		uc.Self = *fresh
	}
	floor, ceiling := uc.Self.Floor(), uc.Self.Ceiling(conv.LastSeq)
	if ceiling > floor {
		ms, err := a.store.Messages(ctx, id, parley.MessageFilter{Floor: floor, Ceiling: ceiling, Limit: 1, Now: a.now.Now()})
		if err != nil {
			return nil, err
		}
		if len(ms) > 0 {
			uc.LatestMessage = ms[0]
		}
	}
	vs, err := a.views(ctx, c, []*parley.UserConversation{uc})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// views turns a member's conversations into the API's list entries.
func (a *App) views(ctx context.Context, c parley.Caller, ucs []*parley.UserConversation) ([]*parley.ConversationView, error) {
	members := make([][]parley.Member, len(ucs))
	need := map[parley.ID]bool{}
	for i, uc := range ucs {
		ms, err := a.store.Members(ctx, uc.Conversation.ID)
		if err != nil {
			return nil, err
		}
		members[i] = ms
		for _, m := range ms {
			need[m.UserID] = true
		}
	}
	ids := make([]parley.ID, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	users, err := a.store.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[parley.ID]*parley.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	latest := make([]*parley.Message, len(ucs))
	for i, uc := range ucs {
		latest[i] = uc.LatestMessage
	}
	if err := a.decorate(ctx, latest); err != nil {
		return nil, err
	}
	unread, err := a.unreadCounts(ctx, ucs)
	if err != nil {
		return nil, err
	}
	out := make([]*parley.ConversationView, 0, len(ucs))
	for i, uc := range ucs {
		conv, self := uc.Conversation, uc.Self
		v := &parley.ConversationView{
			ID: conv.ID, Type: conv.Type, Title: conv.Title,
			LatestMessage: uc.LatestMessage, UnreadCount: unread[i], LastSeq: conv.LastSeq,
			LastActivityAt: conv.LastActivityAt, DisappearAfter: conv.DisappearAfter, Role: self.Role, Active: self.Active(), Muted: self.Muted,
			Pinned: self.PinnedAt != nil, PinnedAt: self.PinnedAt, Archived: self.Archived,
			Members: []parley.MemberView{},
		}
		for _, m := range asSeenBy(&self, members[i]) {
			u := byID[m.UserID]
			if conv.Type == parley.Direct && m.UserID != c.UserID && u != nil {
				v.RecipientID, v.RecipientName, v.RecipientProfilePic = u.ID, u.Name(), u.ProfilePic
			}
			if u == nil {
				continue
			}
			v.Members = append(v.Members, parley.MemberView{
				UserID: m.UserID, Role: m.Role, Handle: u.Handle, DisplayName: u.DisplayName, ProfilePic: u.ProfilePic,
				DeliveredSeq: m.DeliveredSeq, ReadSeq: m.ReadSeq,
			})
		}
		if !self.Active() && self.LeftTitle != "" {
			v.Title = self.LeftTitle // the group as it was when the member left
		}
		if conv.Type == parley.Group {
			v.RecipientName = v.Title
		}
		out = append(out, v)
	}
	return out, nil
}

// asSeenBy returns the memberships the viewer may see: the active ones
// for an active member. A member who left sees the group frozen at the
// moment it left: those who were members then (itself excepted), with
// their watermarks no further than that moment — nothing that happened
// since. Joining and leaving take no seq: between two messages, the times
// of joining and leaving tell the order. The title is frozen too (views).
func asSeenBy(viewer *parley.Member, ms []parley.Member) []parley.Member {
	out := make([]parley.Member, 0, len(ms))
	if viewer.Active() {
		for _, m := range ms {
			if m.Active() {
				out = append(out, m)
			}
		}
		return out
	}
	at, when := *viewer.LeftSeq, viewer.LeftAt
	for _, m := range ms {
		joinedAfter := m.JoinedSeq > at || (m.JoinedSeq == at && !when.IsZero() && m.JoinedAt.After(when))
		leftBefore := m.LeftSeq != nil && (*m.LeftSeq < at || (*m.LeftSeq == at && !when.IsZero() && m.LeftAt.Before(when)))
		if m.UserID == viewer.UserID || joinedAfter || leftBefore {
			continue
		}
		m.DeliveredSeq, m.ReadSeq = min(m.DeliveredSeq, at), min(m.ReadSeq, at)
		out = append(out, m)
	}
	return out
}

// visible returns the part of the conversation's log the caller may see,
// floor < seq <= ceiling; ENOTFOUND if it never was a member.
func (a *App) visible(ctx context.Context, c parley.Caller, id parley.ID) (floor, ceiling int64, err error) {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return 0, 0, err
	}
	// The cached membership may lag a hide or a leave; visibility is
	// decided on the stored row.
	m, err := a.store.Member(ctx, id, c.UserID)
	if err != nil {
		return 0, 0, err
	}
	conv, err := a.store.Conversation(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	return m.Floor(), m.Ceiling(conv.LastSeq), nil
}

// History implements parley.ConversationService.
func (a *App) History(ctx context.Context, c parley.Caller, id parley.ID, q parley.HistoryQuery) ([]*parley.Message, error) {
	var err error
	if q.Limit, err = parley.PageLimit(q.Limit, parley.DefaultHistoryLimit, parley.MaxHistoryLimit); err != nil {
		return nil, err
	}
	if q.AfterSeq < 0 || q.BeforeSeq < 0 {
		return nil, parley.Errorf(parley.EINVALID, "before_seq and after_seq must not be negative")
	}
	floor, ceiling, err := a.visible(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if ceiling <= floor {
		return []*parley.Message{}, nil
	}
	// Expired messages are left out: a page may then hold fewer entries
	// than its seq range, and the next page starts after its last entry.
	ms, err := a.store.Messages(ctx, id, parley.MessageFilter{Floor: floor, Ceiling: ceiling, AfterSeq: q.AfterSeq, BeforeSeq: q.BeforeSeq, Ascending: q.Ascending, Limit: q.Limit, Now: a.now.Now()})
	if err != nil {
		return nil, err
	}
	if ms == nil {
		ms = []*parley.Message{}
	}
	return ms, a.decorate(ctx, ms)
}

func validateTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	if !utf8.ValidString(title) || utf8.RuneCountInString(title) > parley.MaxTitleLen {
		return "", parley.Errorf(parley.EINVALID, "title must be at most %d characters", parley.MaxTitleLen)
	}
	return title, nil
}

// uniqueOthers returns ids without duplicates and without self.
func uniqueOthers(ids []parley.ID, self parley.ID) ([]parley.ID, error) {
	seen := map[parley.ID]bool{self: true}
	out := make([]parley.ID, 0, len(ids))
	for _, id := range ids {
		if id <= 0 {
			return nil, parley.Errorf(parley.EINVALID, "member_ids holds an invalid id")
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// CreateConversation implements parley.ConversationService.
func (a *App) CreateConversation(ctx context.Context, c parley.Caller, req parley.CreateConversationRequest) (*parley.ConversationView, bool, error) {
	if len(req.MemberIDs) > parley.MaxMembersPerCall {
		return nil, false, parley.Errorf(parley.ETOOMANY, "at most %d members per request", parley.MaxMembersPerCall)
	}
	others, err := uniqueOthers(req.MemberIDs, c.UserID)
	if err != nil {
		return nil, false, err
	}
	if len(others) == 0 {
		return nil, false, parley.Errorf(parley.EINVALID, "member_ids must name at least one other user")
	}
	title, err := validateTitle(req.Title)
	if err != nil {
		return nil, false, err
	}
	now := a.now.Now()
	if len(others) == 1 && title == "" {
		other := others[0]
		if err := a.checkNotBlocked(ctx, c.UserID, other); err != nil {
			return nil, false, err
		}
		conv := &parley.Conversation{Type: parley.Direct, CreatedBy: c.UserID, CreatedAt: now}
		ms := []parley.Member{{UserID: c.UserID, Role: parley.RoleMember}, {UserID: other, Role: parley.RoleMember}}
		got, created, err := a.store.CreateConversation(ctx, conv, ms, parley.DirectKey(c.UserID, other))
		if err != nil {
			return nil, false, err
		}
		return a.afterCreate(ctx, c, got.ID, created)
	}
	if len(others)+1 > a.cfg.MemberCap {
		return nil, false, parley.Errorf(parley.ETOOMANY, "a group holds at most %d members", a.cfg.MemberCap)
	}
	if title == "" {
		return nil, false, parley.Errorf(parley.EINVALID, "a group needs a title")
	}
	if err := a.checkAddable(ctx, c.UserID, others); err != nil {
		return nil, false, err
	}
	conv := &parley.Conversation{Type: parley.Group, Title: title, CreatedBy: c.UserID, CreatedAt: now}
	ms := []parley.Member{{UserID: c.UserID, Role: parley.RoleOwner}}
	for _, id := range others {
		ms = append(ms, parley.Member{UserID: id, Role: parley.RoleMember})
	}
	got, _, err := a.store.CreateConversation(ctx, conv, ms, "")
	if err != nil {
		return nil, false, err
	}
	return a.afterCreate(ctx, c, got.ID, true)
}

func (a *App) afterCreate(ctx context.Context, c parley.Caller, id parley.ID, created bool) (*parley.ConversationView, bool, error) {
	v, err := a.Conversation(ctx, c, id)
	if err != nil {
		return nil, false, err
	}
	if created {
		a.announce(ctx, id, nil)
	}
	return v, created, nil
}

// announce tells the conversation's active members of a change, and extra
// users (members just removed) how they now see it. For a group it reads
// the member list and their profiles once and publishes one event that
// every member shares, so a change costs O(members), not a view per
// member re-reading every member.
func (a *App) announce(ctx context.Context, id parley.ID, extra []parley.ID) {
	ctx = detach(ctx)
	a.membershipChanged(ctx, id)
	ci, err := a.conv(ctx, id)
	if err != nil {
		a.logger.Warn("announce conversation", "conversation", id, "err", err)
		return
	}
	to := extra
	if ci.conv.Type == parley.Group {
		data, err := a.sharedView(ctx, ci)
		if err != nil {
			a.logger.Warn("announce conversation", "conversation", id, "err", err)
		} else {
			a.publish(ctx, ci.activeIDs(), &parley.Event{Name: parley.EventConversation, ConversationID: id, Data: data})
		}
	} else {
		to = append(slices.Clone(ci.activeIDs()), extra...)
	}
	for _, u := range to {
		v, err := a.Conversation(ctx, parley.Caller{UserID: u}, id)
		if err != nil {
			continue
		}
		data, _ := json.Marshal(v)
		a.publish(ctx, []parley.ID{u}, &parley.Event{Name: parley.EventConversation, ConversationID: id, Data: data})
	}
}

// groupView is the part of a group's ConversationView that all its active
// members share: what the `conversation` event carries. Each member's own
// unread_count, muted, pinned, pinned_at, archived and latest_message are
// left out (its role is in members).
type groupView struct {
	ID             parley.ID               `json:"id"`
	Type           parley.ConversationType `json:"type"`
	Title          string                  `json:"title"`
	RecipientName  string                  `json:"recipient_name"`
	LastSeq        int64                   `json:"last_seq"`
	LastActivityAt time.Time               `json:"last_activity_at"`
	DisappearAfter int64                   `json:"disappear_after"`
	Active         bool                    `json:"active"`
	Members        []parley.MemberView     `json:"members"`
}

// sharedView encodes a group's groupView, with one read of its members'
// profiles.
func (a *App) sharedView(ctx context.Context, ci *convInfo) ([]byte, error) {
	ids := ci.activeIDs()
	users, err := a.store.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[parley.ID]*parley.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	v := groupView{ID: ci.conv.ID, Type: ci.conv.Type, Title: ci.conv.Title, RecipientName: ci.conv.Title,
		LastSeq: ci.conv.LastSeq, LastActivityAt: ci.conv.LastActivityAt, DisappearAfter: ci.conv.DisappearAfter, Active: true,
		Members: make([]parley.MemberView, 0, len(ids))}
	for _, m := range ci.members {
		u := byID[m.UserID]
		if !m.Active() || u == nil {
			continue
		}
		v.Members = append(v.Members, parley.MemberView{
			UserID: m.UserID, Role: m.Role, Handle: u.Handle, DisplayName: u.DisplayName, ProfilePic: u.ProfilePic,
			DeliveredSeq: m.DeliveredSeq, ReadSeq: m.ReadSeq,
		})
	}
	return json.Marshal(v)
}

// RemoveConversation implements parley.ConversationService.
func (a *App) RemoveConversation(ctx context.Context, c parley.Caller, id parley.ID) error {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return err
	}
	if _, err := a.store.HideConversation(ctx, id, c.UserID); err != nil {
		return err
	}
	a.membershipChanged(detach(ctx), id)
	return nil
}

func canManage(r parley.Role) bool { return r == parley.RoleOwner || r == parley.RoleAdmin }

// AddMembers implements parley.ConversationService.
func (a *App) AddMembers(ctx context.Context, c parley.Caller, id parley.ID, userIDs []parley.ID) (*parley.ConversationView, error) {
	ci, m, err := a.activeMemberOf(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if ci.conv.Type != parley.Group {
		return nil, parley.Errorf(parley.EINVALID, "members cannot be added to a direct conversation; create a group")
	}
	if !canManage(m.Role) {
		return nil, parley.Errorf(parley.EFORBIDDEN, "only the owner or an admin may add members")
	}
	if len(userIDs) > parley.MaxMembersPerCall {
		return nil, parley.Errorf(parley.ETOOMANY, "at most %d members per request", parley.MaxMembersPerCall)
	}
	others, err := uniqueOthers(userIDs, c.UserID)
	if err != nil {
		return nil, err
	}
	if len(others) == 0 {
		return nil, parley.Errorf(parley.EINVALID, "user_ids must name at least one user")
	}
	var add []parley.Member
	active := 0
	for _, x := range ci.members {
		if x.Active() {
			active++
		}
	}
	for _, u := range others {
		if x := ci.member(u); x != nil && x.Active() {
			continue
		}
		add = append(add, parley.Member{UserID: u, Role: parley.RoleMember})
	}
	if active+len(add) > a.cfg.MemberCap {
		return nil, parley.Errorf(parley.ETOOMANY, "a group holds at most %d members", a.cfg.MemberCap)
	}
	newcomers := make([]parley.ID, len(add))
	for i, x := range add {
		newcomers[i] = x.UserID
	}
	if err := a.checkAddable(ctx, c.UserID, newcomers); err != nil {
		return nil, err
	}
	if len(add) > 0 {
		if _, _, err := a.store.AddMembers(ctx, id, add, a.now.Now()); err != nil {
			return nil, err
		}
		a.announce(ctx, id, nil)
	}
	return a.Conversation(ctx, c, id)
}

// RemoveMember implements parley.ConversationService.
func (a *App) RemoveMember(ctx context.Context, c parley.Caller, id, userID parley.ID) error {
	ci, m, err := a.activeMemberOf(ctx, c, id)
	if err != nil {
		return err
	}
	if ci.conv.Type != parley.Group {
		return parley.Errorf(parley.EINVALID, "nobody can leave a direct conversation; remove it from your list instead")
	}
	target := ci.member(userID)
	if target == nil || !target.Active() {
		return parley.Errorf(parley.ENOTFOUND, "not a member")
	}
	if userID != c.UserID {
		switch {
		case !canManage(m.Role):
			return parley.Errorf(parley.EFORBIDDEN, "only the owner or an admin may remove members")
		case target.Role == parley.RoleOwner, target.Role == parley.RoleAdmin && m.Role != parley.RoleOwner:
			return parley.Errorf(parley.EFORBIDDEN, "only the owner may remove an admin, and nobody may remove the owner")
		}
	}
	if _, err := a.store.RemoveMember(ctx, id, userID, a.now.Now()); err != nil {
		return err
	}
	if target.Role == parley.RoleOwner {
		a.handOver(ctx, ci, userID)
	}
	a.announce(ctx, id, []parley.ID{userID})
	return nil
}

// handOver makes the longest-standing admin (or else member) the owner when
// the owner leaves, so a group always has one.
func (a *App) handOver(ctx context.Context, ci *convInfo, leaving parley.ID) {
	var next *parley.Member
	for _, role := range []parley.Role{parley.RoleAdmin, parley.RoleMember} {
		cands := slices.DeleteFunc(slices.Clone(ci.members), func(m parley.Member) bool {
			return !m.Active() || m.UserID == leaving || m.Role != role
		})
		slices.SortFunc(cands, func(x, y parley.Member) int { return x.JoinedAt.Compare(y.JoinedAt) })
		if len(cands) > 0 {
			next = &cands[0]
			break
		}
	}
	if next == nil {
		return
	}
	if err := a.store.SetRole(ctx, ci.conv.ID, next.UserID, parley.RoleOwner); err != nil {
		a.logger.Warn("hand over ownership", "conversation", ci.conv.ID, "err", err)
	}
}

// SetRole implements parley.ConversationService.
func (a *App) SetRole(ctx context.Context, c parley.Caller, id, userID parley.ID, role parley.Role) error {
	ci, m, err := a.activeMemberOf(ctx, c, id)
	if err != nil {
		return err
	}
	if ci.conv.Type != parley.Group {
		return parley.Errorf(parley.EINVALID, "a direct conversation has no roles")
	}
	switch role {
	case parley.RoleOwner, parley.RoleAdmin, parley.RoleMember:
	default:
		return parley.Errorf(parley.EINVALID, "role must be owner, admin or member")
	}
	if m.Role != parley.RoleOwner {
		return parley.Errorf(parley.EFORBIDDEN, "only the owner may change roles")
	}
	if userID == c.UserID {
		return parley.Errorf(parley.EINVALID, "to step down, make another member the owner")
	}
	target := ci.member(userID)
	if target == nil || !target.Active() {
		return parley.Errorf(parley.ENOTFOUND, "not a member")
	}
	if err := a.store.SetRole(ctx, id, userID, role); err != nil {
		return err
	}
	if role == parley.RoleOwner {
		if err := a.store.SetRole(ctx, id, c.UserID, parley.RoleAdmin); err != nil {
			return err
		}
	}
	a.announce(ctx, id, nil)
	return nil
}

// Rename implements parley.ConversationService.
func (a *App) Rename(ctx context.Context, c parley.Caller, id parley.ID, title string) (*parley.ConversationView, error) {
	return a.UpdateConversation(ctx, c, id, parley.ConversationUpdate{Title: &title})
}

// Receipts implements parley.ConversationService.
func (a *App) Receipts(ctx context.Context, c parley.Caller, id parley.ID) ([]parley.Receipt, error) {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return nil, err
	}
	ms, err := a.store.Members(ctx, id)
	if err != nil {
		return nil, err
	}
	self := findMember(ms, c.UserID)
	if self == nil {
		return nil, errNoConversation
	}
	seen := asSeenBy(self, ms)
	out := make([]parley.Receipt, 0, len(seen))
	for _, m := range seen {
		out = append(out, parley.Receipt{ConversationID: id, UserID: m.UserID, DeliveredSeq: m.DeliveredSeq, ReadSeq: m.ReadSeq})
	}
	return out, nil
}

func findMember(ms []parley.Member, user parley.ID) *parley.Member {
	for i := range ms {
		if ms[i].UserID == user {
			return &ms[i]
		}
	}
	return nil
}

// SetMuted implements parley.ConversationService.
func (a *App) SetMuted(ctx context.Context, c parley.Caller, id parley.ID, muted bool) error {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return err
	}
	if err := a.store.SetMuted(ctx, id, c.UserID, muted); err != nil {
		return err
	}
	a.membershipChanged(detach(ctx), id)
	return nil
}

// SetPinned implements parley.ConversationService. A former member keeps
// the conversation in its list, so it may arrange it like any other.
func (a *App) SetPinned(ctx context.Context, c parley.Caller, id parley.ID, pinned bool) error {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return err
	}
	var at *time.Time
	if pinned {
		t := a.now.Now()
		at = &t
	}
	if _, err := a.store.SetPinned(ctx, id, c.UserID, at, parley.MaxPinned); err != nil {
		return err
	}
	a.arranged(ctx, id, []parley.ID{c.UserID})
	return nil
}

// SetArchived implements parley.ConversationService.
func (a *App) SetArchived(ctx context.Context, c parley.Caller, id parley.ID, archived bool) error {
	if _, _, err := a.memberOf(ctx, c, id); err != nil {
		return err
	}
	if _, err := a.store.SetArchived(ctx, id, c.UserID, archived); err != nil {
		return err
	}
	a.arranged(ctx, id, []parley.ID{c.UserID})
	return nil
}

// arranged tells each user's devices, with a `conversation` event of the
// conversation as that user sees it, that the user's pin or archive of it
// changed. The cached memberships carry the archive state the send path
// reads, so they are dropped first.
func (a *App) arranged(ctx context.Context, id parley.ID, users []parley.ID) {
	ctx = detach(ctx)
	a.membershipChanged(ctx, id)
	for _, u := range users {
		v, err := a.Conversation(ctx, parley.Caller{UserID: u}, id)
		if err != nil {
			a.logger.Warn("announce conversation", "conversation", id, "user", u, "err", err)
			continue
		}
		data, _ := json.Marshal(v)
		a.publish(ctx, []parley.ID{u}, &parley.Event{Name: parley.EventConversation, ConversationID: id, Data: data})
	}
}

// unarchivedBy returns the members the store unarchived when it appended
// m: the active members who archived the conversation and did not mute it.
// The memberships are the cached ones the send was authorised with; a
// cache that missed an archive elsewhere costs that member the event, not
// the unarchive, and its devices see it in the list.
func unarchivedBy(ci *convInfo, m *parley.Message) []parley.ID {
	if !m.Type.Sent() {
		return nil
	}
	var users []parley.ID
	for i := range ci.members {
		if mb := &ci.members[i]; mb.Active() && mb.Archived && !mb.Muted {
			users = append(users, mb.UserID)
		}
	}
	return users
}
