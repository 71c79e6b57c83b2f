// The realtime connection (docs/api.md, Realtime): the official Socket.IO
// client, catching up with `sync` after every (re)connect, and the offline
// queue — messages written while disconnected are kept, shown as pending,
// and sent with their original client_msg_id when the connection returns.
import { io } from "../vendor/socket.io.esm.min.js";
import { get } from "./api.js";
import { randomId } from "./dom.js";
import {
  state, changed, conv, cursor, addMessage, setConversation, setReceipt, markRecalled, isOpen, maxSeq, saveQueue,
} from "./store.js";

let socket = null;
let hooks = { onLoggedOut() {}, onFriends() {} };
const deliveredSent = new Map(); // conversation id -> seq

const ACK_TIMEOUT = 15000;

export function connect(h) {
  hooks = h;
  // A connection attempt that hangs (a network that went away under it)
  // is given up after 10 s rather than the client's default 20 s.
  socket = io(location.origin, { auth: { token: state.token }, reconnectionDelayMax: 5000, timeout: 10000 });
  state.connection = "connecting";
  socket.on("connect", onConnect);
  socket.on("disconnect", (reason) => {
    for (const c of state.convs.values()) for (const p of c.pending) p.inflight = false;
    state.connection = navigator.onLine ? "connecting" : "offline";
    changed();
    // The server ends the socket itself only when the session was logged
    // out or revoked (docs/api.md, Disconnect reasons).
    if (reason === "io server disconnect") hooks.onLoggedOut();
  });
  socket.on("connect_error", (err) => {
    if (err && err.message === "unauthorized") hooks.onLoggedOut();
    state.connection = navigator.onLine ? "connecting" : "offline";
    changed();
  });
  socket.on("message", (m) => {
    ingest(m);
    changed();
  });
  socket.on("receipt", (r) => {
    setReceipt(r);
    changed();
  });
  socket.on("recall", (r) => {
    markRecalled(conv(r.conversation_id), r.message_id);
    changed();
  });
  socket.on("conversation", (v) => {
    setConversation(v);
    if (v.type === "direct" && v.recipient_id) loadPresence([v.recipient_id]).catch(() => {});
    changed();
  });
  socket.on("typing", (t) => {
    if (String(t.user_id) === String(state.me.id)) return;
    const c = conv(t.conversation_id);
    c.typing.set(String(t.user_id), Date.now() + 4000);
    setTimeout(changed, 4100);
    changed();
  });
  socket.on("presence", (p) => {
    state.presence.set(String(p.user_id), !!p.online);
    changed();
  });
  socket.on("friend", () => hooks.onFriends());
  socket.on("resync", () => sync());
}

// The browser says when the network goes: stop and show the banner at
// once rather than wait for a ping to time out, and come back with it.
addEventListener("offline", () => {
  if (!socket) return;
  socket.disconnect();
  state.connection = "offline";
  changed();
});
addEventListener("online", () => {
  if (!socket || socket.connected) return;
  state.connection = "connecting";
  socket.connect();
  changed();
});

// When the network comes back, connect at once rather than at the next
// step of the reconnection back-off (or after an attempt that hung).
addEventListener("online", () => {
  if (socket && !socket.connected) {
    socket.disconnect();
    socket.connect();
  }
});

export function disconnect() {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
  }
  socket = null;
  deliveredSent.clear();
  state.connection = "offline";
}

async function onConnect() {
  state.connection = "online";
  changed();
  try {
    await refreshConversations();
    await sync();
    // The list shows every conversation's newest message, and opening one
    // fetches its history: the device has them all.
    for (const c of state.convs.values()) if (c.view) acknowledge(c);
  } catch {
    // the next reconnect tries again
  }
  flush();
}

// refreshConversations loads the list (new conversations, unread counts).
export async function refreshConversations() {
  for (let page = 1; page <= 20; page++) {
    const r = await get(`/v1/conversation?page_size=100&page_number=${page}&archived=true`);
    for (const v of r.conversations) setConversation(v);
    if (r.conversations.length < 100) break;
  }
  changed();
  loadPresence(peers(), true).catch(() => {});
}

function emit(event, payload, timeout = ACK_TIMEOUT) {
  return new Promise((resolve, reject) => {
    if (!socket || !socket.connected) {
      reject(new Error("offline"));
      return;
    }
    socket.timeout(timeout).emit(event, payload, (err, res) => {
      if (err) reject(err);
      else if (!res || !res.ok) reject(Object.assign(new Error(res && res.error ? res.error.message : "failed"), { code: res && res.error && res.error.code }));
      else resolve(res);
    });
  });
}

// sync replays what was missed since the seq held per conversation, until
// the server says it caught up. Replayed messages are deduplicated by seq.
export async function sync() {
  for (let round = 0; round < 100; round++) {
    const cursors = {};
    for (const c of state.convs.values()) cursors[c.id] = cursor(c);
    const res = await emit("sync", { cursors }, 60000);
    changed();
    if (res.caught_up) return;
  }
}

const unknown = new Set();

function ingest(m) {
  const c = conv(m.conversation_id);
  addMessage(m);
  if (!c.view && !unknown.has(c.id)) {
    unknown.add(c.id);
    get(`/v1/conversation/${c.id}`).then((v) => {
      setConversation(v);
      changed();
    }, () => {}).finally(() => unknown.delete(c.id));
  }
  if (String(m.sender_id) !== String(state.me.id)) acknowledge(c);
}

// acknowledge tells the server this device has the conversation up to its
// newest seq (delivered), and that the user read it when it is on screen.
export function acknowledge(c) {
  const seq = Math.max(maxSeq(c), c.view ? c.view.last_seq : 0);
  const self = c.view && (c.view.members || []).find((m) => String(m.user_id) === String(state.me.id));
  if (!deliveredSent.has(c.id) && self && self.delivered_seq >= seq) deliveredSent.set(c.id, seq);
  if (seq > (deliveredSent.get(c.id) || 0)) {
    deliveredSent.set(c.id, seq);
    emit("delivered", { conversation_id: c.id, seq }).catch(() => deliveredSent.delete(c.id));
  }
  markRead(c);
}

export function markRead(c) {
  if (!isOpen(c.id)) return;
  const seq = Math.max(maxSeq(c), c.view ? c.view.last_seq : 0);
  if (c.view) c.view.unread_count = 0;
  if (seq > c.readSent) {
    c.readSent = seq;
    emit("read", { conversation_id: c.id, seq }).catch(() => {
      c.readSent = 0;
    });
  }
}

// send queues a message and sends it when connected. The queue keeps the
// order of writing; sends are pipelined, and the server stores them in the
// order sent.
export function send(conversationId, msg) {
  const c = conv(conversationId);
  lastTyping.delete(c.id);
  c.pending.push({
    conversation_id: c.id,
    client_msg_id: msg.client_msg_id,
    type: msg.type || "text",
    body: msg.body || "",
    media_id: msg.media_id,
    media: msg.media,
    reply_to: msg.reply_to,
    forward_of: msg.forward_of,
    forwarded: !!msg.forward_of,
    created_at: new Date().toISOString(),
    sender_id: state.me.id,
    inflight: false,
  });
  saveQueue();
  changed();
  flush();
}

export function flush() {
  if (!socket || !socket.connected) return;
  for (const c of state.convs.values()) {
    for (const p of c.pending) {
      if (p.inflight || p.failed || p.uploading) continue;
      p.inflight = true;
      // A forward names the message it copies and nothing of its own.
      const payload = p.forward_of
        ? { conversation_id: p.conversation_id, client_msg_id: p.client_msg_id, forward_of: p.forward_of }
        : { conversation_id: p.conversation_id, client_msg_id: p.client_msg_id, type: p.type, body: p.body };
      if (p.media_id && !p.forward_of) payload.media_id = p.media_id;
      if (p.reply_to) payload.reply_to = p.reply_to;
      emit("send", payload).then((res) => {
        addMessage(res.message);
        saveQueue();
        changed();
      }, (err) => {
        p.inflight = false;
        const permanent = ["invalid", "forbidden", "not_found", "too_large", "conflict"];
        if (permanent.includes(err.code)) {
          p.failed = err.message;
          saveQueue();
          changed();
        } else if (socket && socket.connected) {
          // A lost ack or a rate limit: the same client_msg_id again is safe.
          setTimeout(flush, 1000);
        }
      });
    }
  }
}

export function recall(conversationId, messageId) {
  return emit("recall", { conversation_id: String(conversationId), message_id: String(messageId) }).then((res) => {
    markRecalled(conv(conversationId), messageId);
    changed();
    return res;
  });
}

// edit replaces the body of one's own message; the edit entry that follows
// in the log tells every device, this one included.
export function edit(conversationId, messageId, body) {
  return emit("edit", { conversation_id: String(conversationId), message_id: String(messageId), body }).then((res) => {
    if (res.message) addMessage(res.message);
    changed();
    return res;
  });
}

// react sets (or, with "", removes) the user's reaction to a message.
export function react(conversationId, messageId, emoji) {
  return emit("react", { conversation_id: String(conversationId), message_id: String(messageId), emoji });
}

// forward queues a copy of message m, from conversation fromId, for
// conversation toId; it is sent like any message (and kept while offline).
export function forward(toId, fromId, m) {
  send(toId, {
    client_msg_id: randomId(),
    type: m.type,
    body: m.body,
    media: m.media,
    forward_of: { conversation_id: String(fromId), message_id: String(m.id) },
  });
}

const lastTyping = new Map(); // conversation id -> ms; a send resets it
export function typing(conversationId) {
  const id = String(conversationId);
  const now = Date.now();
  if (now - (lastTyping.get(id) || 0) < 3000) return;
  lastTyping.set(id, now);
  emit("typing", { conversation_id: id }).catch(() => {});
}

// loadPresence asks for the presence of the given users not yet known;
// the `presence` event keeps it current afterwards.
export async function loadPresence(ids, force = false) {
  const want = [...new Set(ids.map(String))].filter((id) => force || !state.presence.has(id));
  for (let i = 0; i < want.length; i += 256) {
    const r = await get(`/v1/presence?user_ids=${want.slice(i, i + 256).join(",")}`);
    for (const p of r.presence) state.presence.set(String(p.user_id), !!p.online);
  }
  changed();
}

function peers() {
  return [...state.convs.values()].filter((c) => c.view && c.view.type === "direct" && c.view.recipient_id).map((c) => c.view.recipient_id);
}

export function connected() {
  return !!(socket && socket.connected);
}
