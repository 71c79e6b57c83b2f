// The single state object every view renders from, and the mutations that
// keep it consistent. Views never hold data of their own; they call
// changed() after a mutation and main.js re-renders on the next frame.

export const state = {
  token: localStorage.getItem("parley.token"),
  me: null,
  route: { view: "list", id: null },
  connection: "offline", // "online" | "connecting" | "offline"
  convs: new Map(), // conversation id -> Conv (see conv())
  users: new Map(), // user id -> User, for names and pictures
  presence: new Map(), // user id -> online
  friends: [],
  blocks: [],
  filter: "",
  drafts: JSON.parse(localStorage.getItem("parley.drafts") || "{}"),
  replyTo: null, // {conversation_id, message}
  notice: "",
  sessionsSupported: null, // whether GET /v1/sessions answers
};

const listeners = new Set();
let scheduled = false;

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// changed schedules one render for any number of mutations.
export function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const fn of listeners) fn(state);
  });
}

// conv returns the client's record of a conversation, creating it empty.
export function conv(id) {
  id = String(id);
  let c = state.convs.get(id);
  if (!c) {
    c = {
      id,
      view: null, // the ConversationView
      msgs: new Map(), // seq -> Message (recall entries included)
      byId: new Map(), // message id -> Message
      seqs: [], // the held seqs, ascending
      pending: [], // messages not yet stored: {client_msg_id, ..., failed?}
      loaded: false, // the newest page of history was fetched
      hasOlder: false,
      loadingOlder: false,
      seen: 0, // the highest seq ever held, also after expired ones were dropped
      receipts: new Map(), // user id -> {delivered_seq, read_seq}
      typing: new Map(), // user id -> until (ms)
      readSent: 0,
    };
    state.convs.set(id, c);
  }
  return c;
}

export function maxSeq(c) {
  return c.seqs.length ? c.seqs[c.seqs.length - 1] : 0;
}

// cursor is the seq up to which the client holds a conversation's log:
// what it syncs from.
export function cursor(c) {
  return c.loaded ? Math.max(maxSeq(c), c.seen) : Math.max(c.view ? c.view.last_seq : 0, maxSeq(c), c.seen);
}

// expired reports whether a disappearing message's time is up: it is then
// dropped (sweepExpired) and never shown again.
export function expired(m, now = Date.now()) {
  return !!m && !!m.expires_at && Date.parse(m.expires_at) <= now;
}

// sweepExpired forgets the messages whose expires_at passed, everywhere
// the client holds them, and reports whether it dropped any.
export function sweepExpired(now = Date.now()) {
  let dropped = false;
  for (const c of state.convs.values()) {
    for (const [seq, m] of c.msgs) {
      if (!expired(m, now)) continue;
      c.msgs.delete(seq);
      c.byId.delete(String(m.id));
      c.seqs.splice(c.seqs.indexOf(seq), 1);
      dropped = true;
    }
    const v = c.view;
    if (v && expired(v.latest_message, now)) {
      let newest = null;
      for (let i = c.seqs.length - 1; i >= 0 && !newest; i--) {
        const m = c.msgs.get(c.seqs[i]);
        if (m.type !== "recall") newest = m;
      }
      v.latest_message = newest;
      dropped = true;
    }
  }
  return dropped;
}

// timerLabel says a disappearing-messages timer in words.
export function timerLabel(seconds) {
  if (!seconds) return "off";
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  for (const [n, name] of units) {
    if (seconds % n === 0) {
      const k = seconds / n;
      return `${k} ${name}${k === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}

function raise(c, userId, delivered, read) {
  const key = String(userId);
  const r = c.receipts.get(key) || { delivered_seq: 0, read_seq: 0 };
  r.delivered_seq = Math.max(r.delivered_seq, delivered || 0, read || 0);
  r.read_seq = Math.max(r.read_seq, read || 0);
  c.receipts.set(key, r);
}

export function setReceipt(ev) {
  raise(conv(ev.conversation_id), ev.user_id, ev.delivered_seq, ev.read_seq);
}

// ownFields are a conversation's fields that are the user's own.
const ownFields = ["unread_count", "muted", "pinned", "pinned_at", "archived", "latest_message"];

// setConversation stores a ConversationView. A group's `conversation` event
// carries only what every member shares (docs/api.md): the fields that are
// this user's own are kept from what the client knew, and the role is read
// from the members.
export function setConversation(v) {
  const c = conv(v.id);
  const prev = c.view;
  if (!("role" in v)) {
    for (const k of ownFields) {
      if (!(k in v) && prev && k in prev) v[k] = prev[k];
    }
    const mine = (v.members || []).find((m) => state.me && String(m.user_id) === String(state.me.id));
    v.role = mine ? mine.role : prev && prev.role;
  }
  c.view = v;
  if (prev && prev.last_seq > v.last_seq) {
    v.last_seq = prev.last_seq;
    v.latest_message = prev.latest_message;
    v.last_activity_at = prev.last_activity_at;
  }
  for (const m of v.members || []) {
    raise(c, m.user_id, m.delivered_seq, m.read_seq);
    if (!state.users.has(String(m.user_id))) {
      state.users.set(String(m.user_id), { id: m.user_id, handle: m.handle, display_name: m.display_name, profile_pic: m.profile_pic });
    }
  }
  if (isOpen(c.id)) v.unread_count = 0;
  return c;
}

export function isOpen(id) {
  return state.route.view === "chat" && state.route.id === String(id) && document.visibilityState === "visible";
}

// addMessage merges a Message from any source (an ack, a live event, sync,
// history), deduplicated by seq. It returns true when the message was new.
export function addMessage(m) {
  const c = conv(m.conversation_id);
  c.seen = Math.max(c.seen, m.seq);
  if (m.type === "setting" && c.view && m.seq > c.view.last_seq) c.view.disappear_after = m.disappear_after || 0;
  if (expired(m)) return false; // its time was up before it arrived
  const fresh = !c.msgs.has(m.seq);
  if (m.type === "recall" && m.recall_of) markRecalled(c, m.recall_of);
  if (fresh && m.type === "edit" && m.edit_of) applyEdit(c, m);
  if (fresh && m.type === "reaction" && m.reaction_of) applyReaction(c, m);
  const old = c.byId.get(String(m.id));
  if (old && old.recalled_at && !m.recalled_at) m = old; // a recall seen first wins
  if (isSent(m)) m = { ...m, stateSeq: Math.max(m.seq, maxSeq(c), old ? old.stateSeq || 0 : 0) };
  c.msgs.set(m.seq, m);
  c.byId.set(String(m.id), m);
  if (fresh) insertSorted(c.seqs, m.seq);
  if (m.client_msg_id && String(m.sender_id) === String(state.me && state.me.id)) {
    c.pending = c.pending.filter((p) => p.client_msg_id !== m.client_msg_id);
  }
  raise(c, m.sender_id, m.seq, m.seq);
  const v = c.view;
  if (v && m.seq > v.last_seq) {
    if (String(m.sender_id) !== String(state.me && state.me.id) && isSent(m) && !isOpen(c.id)) {
      v.unread_count = (v.unread_count || 0) + 1;
    }
    if (isSent(m) && v.archived && !v.muted) v.archived = false; // a new message brings it back
    v.last_seq = m.seq;
    v.last_activity_at = m.created_at;
    if (isSent(m)) v.latest_message = m;
  }
  if (isSent(m)) c.typing.delete(String(m.sender_id));
  return fresh;
}

// isSent tells a message someone sent from an entry that changes another
// (recall, edit, reaction), which is applied to it and not shown itself.
export function isSent(m) {
  return m.type === "text" || m.type === "image" || m.type === "file" || !m.type;
}

// changeTarget returns the message an edit or reaction entry changes, when
// the client holds it and its state predates the entry: a message fetched
// later already shows the entry, and applying it again could undo a newer
// one.
function changeTarget(c, id, seq) {
  const t = c.byId.get(String(id));
  return t && !t.recalled_at && seq > (t.stateSeq || 0) ? t : null;
}

function replace(c, t, next) {
  c.msgs.set(t.seq, next);
  c.byId.set(String(t.id), next);
  const v = c.view;
  if (v && v.latest_message && String(v.latest_message.id) === String(t.id)) v.latest_message = next;
}

export function applyEdit(c, e) {
  const t = changeTarget(c, e.edit_of, e.seq);
  if (t) replace(c, t, { ...t, body: e.body, edited_at: e.created_at, stateSeq: e.seq });
}

// applyReaction moves the reacting user to its new emoji (none when the
// entry's body is empty). Counts beyond the listed users are kept as the
// server gave them.
export function applyReaction(c, e) {
  const t = changeTarget(c, e.reaction_of, e.seq);
  if (!t) return;
  const uid = String(e.sender_id);
  const rs = [];
  for (const r of t.reactions || []) {
    const had = (r.user_ids || []).map(String).includes(uid);
    const next = had ? { ...r, count: r.count - 1, user_ids: r.user_ids.filter((u) => String(u) !== uid) } : r;
    if (next.count > 0) rs.push(next);
  }
  if (e.body) {
    const r = rs.find((x) => x.emoji === e.body);
    if (r) Object.assign(r, { count: r.count + 1, user_ids: [...r.user_ids, e.sender_id] });
    else rs.push({ emoji: e.body, count: 1, user_ids: [e.sender_id] });
  }
  rs.sort((a, b) => b.count - a.count);
  replace(c, t, { ...t, reactions: rs, stateSeq: e.seq });
}

// myReaction is the emoji the user put on m, "" for none.
export function myReaction(m) {
  const me = String(state.me && state.me.id);
  const r = (m.reactions || []).find((x) => (x.user_ids || []).map(String).includes(me));
  return r ? r.emoji : "";
}

export function markRecalled(c, messageId) {
  const m = c.byId.get(String(messageId));
  if (m && !m.recalled_at) {
    const r = { ...m, body: "", media: undefined, media_id: undefined, recalled_at: new Date().toISOString() };
    c.msgs.set(m.seq, r);
    c.byId.set(String(m.id), r);
  }
  const v = c.view;
  if (v && v.latest_message && String(v.latest_message.id) === String(messageId)) {
    v.latest_message = { ...v.latest_message, body: "", recalled_at: new Date().toISOString() };
  }
}

function insertSorted(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, x);
}

// tick is the state of one's own stored message: "read" when every other
// member read it, "delivered" when every other member's device has it,
// else "sent".
export function tick(c, m) {
  const me = String(state.me.id);
  const members = (c.view && c.view.members) || [];
  const others = members.filter((x) => String(x.user_id) !== me);
  if (!others.length) return "sent";
  let delivered = true;
  let read = true;
  for (const o of others) {
    const r = c.receipts.get(String(o.user_id)) || { delivered_seq: 0, read_seq: 0 };
    if (r.read_seq < m.seq) read = false;
    if (Math.max(r.delivered_seq, r.read_seq) < m.seq) delivered = false;
  }
  return read ? "read" : delivered ? "delivered" : "sent";
}

export function userName(id) {
  const u = state.users.get(String(id));
  if (!u) return "Someone";
  return u.display_name || u.handle || "Someone";
}

export function convTitle(c) {
  const v = c.view;
  if (!v) return "Conversation";
  if (v.type === "group") return v.title || "Group";
  return v.recipient_name || (v.recipient_id ? userName(v.recipient_id) : "Chat");
}

export function saveDrafts() {
  localStorage.setItem("parley.drafts", JSON.stringify(state.drafts));
}

// The offline queue survives a reload: messages written offline are sent
// with their original client_msg_id when the page next connects.
export function saveQueue() {
  const all = [];
  for (const c of state.convs.values()) for (const p of c.pending) if (!p.file) all.push(p);
  localStorage.setItem("parley.queue", JSON.stringify(all));
}

export function loadQueue() {
  for (const p of JSON.parse(localStorage.getItem("parley.queue") || "[]")) {
    const c = conv(p.conversation_id);
    if (!c.pending.some((x) => x.client_msg_id === p.client_msg_id)) c.pending.push({ ...p, inflight: false });
  }
}

export function unreadTotal() {
  let n = 0;
  for (const c of state.convs.values()) if (c.view && c.view.active !== false) n += c.view.unread_count || 0;
  return n;
}

export function reset() {
  state.me = null;
  state.token = null;
  state.convs.clear();
  state.users.clear();
  state.presence.clear();
  state.friends = [];
  state.blocks = [];
  state.replyTo = null;
  state.drafts = {};
  localStorage.removeItem("parley.token");
  localStorage.removeItem("parley.drafts");
  localStorage.removeItem("parley.queue");
}
