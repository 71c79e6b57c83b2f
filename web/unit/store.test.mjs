// Unit tests of the client's state rules (web/static/js/store.js), run by
// node's test runner from web/web_test.go: dedup by seq, the offline queue,
// unread counts, recall, ticks, sync cursors.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

const storage = new Map();
globalThis.localStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null),
  setItem: (k, v) => storage.set(k, String(v)),
  removeItem: (k) => storage.delete(k),
};
globalThis.document = { visibilityState: "visible" };
globalThis.requestAnimationFrame = (fn) => setTimeout(fn, 0);

const { state, conv, addMessage, setConversation, setReceipt, tick, cursor, maxSeq, reset, unreadTotal } = await import("../static/js/store.js");

const me = { id: "1", handle: "me" };
const msg = (seq, sender, extra = {}) => ({
  id: String(100 + seq), conversation_id: "9", seq, sender_id: sender, client_msg_id: `c${seq}`, type: "text", body: `m${seq}`,
  created_at: new Date(2026, 0, 1, 12, seq).toISOString(), ...extra,
});
const view = (extra = {}) => ({
  id: "9", type: "group", title: "G", last_seq: 0, unread_count: 0, latest_message: null,
  members: [{ user_id: "1", delivered_seq: 0, read_seq: 0 }, { user_id: "2", delivered_seq: 0, read_seq: 0 }, { user_id: "3", delivered_seq: 0, read_seq: 0 }],
  ...extra,
});

beforeEach(() => {
  reset();
  state.me = me;
  state.token = "t";
  state.route = { view: "list", id: null };
});

test("messages are kept once per seq, in seq order, whatever order they arrive in", () => {
  setConversation(view());
  for (const s of [3, 1, 2, 3, 1]) addMessage(msg(s, "2"));
  const c = conv("9");
  assert.deepEqual(c.seqs, [1, 2, 3]);
  assert.equal(maxSeq(c), 3);
});

test("an acknowledged send replaces its pending copy", () => {
  setConversation(view());
  const c = conv("9");
  c.pending.push({ client_msg_id: "c5", conversation_id: "9", body: "m5" });
  c.pending.push({ client_msg_id: "c6", conversation_id: "9", body: "m6" });
  addMessage(msg(5, "1"));
  assert.deepEqual(c.pending.map((p) => p.client_msg_id), ["c6"]);
});

test("unread counts others' new messages, not replays, own ones or an open chat's", () => {
  setConversation(view({ last_seq: 2, unread_count: 1 }));
  addMessage(msg(2, "2")); // already counted by the list
  addMessage(msg(3, "2"));
  addMessage(msg(4, "1"));
  assert.equal(conv("9").view.unread_count, 2);
  state.route = { view: "chat", id: "9" };
  addMessage(msg(5, "3"));
  assert.equal(conv("9").view.unread_count, 2);
  assert.equal(unreadTotal(), 2);
});

test("a recall entry erases the original", () => {
  setConversation(view());
  addMessage(msg(1, "2"));
  addMessage(msg(2, "2", { type: "recall", body: "", recall_of: "101" }));
  const c = conv("9");
  assert.ok(c.msgs.get(1).recalled_at);
  assert.equal(c.msgs.get(1).body, "");
});

test("ticks: sent, delivered when every other member has it, read when every one read it", () => {
  setConversation(view());
  const m = msg(1, "1");
  addMessage(m);
  const c = conv("9");
  assert.equal(tick(c, m), "sent");
  setReceipt({ conversation_id: "9", user_id: "2", delivered_seq: 1, read_seq: 1 });
  assert.equal(tick(c, m), "sent");
  setReceipt({ conversation_id: "9", user_id: "3", delivered_seq: 1, read_seq: 0 });
  assert.equal(tick(c, m), "delivered");
  // A member's own message says it read everything before.
  addMessage(msg(2, "3"));
  assert.equal(tick(c, m), "read");
});

test("receipts only grow", () => {
  setConversation(view());
  setReceipt({ conversation_id: "9", user_id: "2", delivered_seq: 5, read_seq: 4 });
  setReceipt({ conversation_id: "9", user_id: "2", delivered_seq: 3, read_seq: 1 });
  assert.deepEqual(conv("9").receipts.get("2"), { delivered_seq: 5, read_seq: 4 });
});

test("sync cursors: the held seq of an open history, the list's for the rest", () => {
  setConversation(view({ last_seq: 40 }));
  const c = conv("9");
  assert.equal(cursor(c), 40);
  c.loaded = true;
  addMessage(msg(30, "2"));
  addMessage(msg(31, "2"));
  // A newer list must not move an open history's cursor past a hole.
  setConversation(view({ last_seq: 50 }));
  assert.equal(cursor(c), 31);
});

test("a disappearing message is dropped at its expires_at, and the list shows what is left", async () => {
  const { sweepExpired, expired, timerLabel } = await import("../static/js/store.js");
  setConversation(view());
  const t0 = Date.now() + 3_600_000; // ahead of the clock: not expired on arrival
  addMessage(msg(1, "2", { type: "setting", body: "", disappear_after: 60 }));
  addMessage(msg(2, "2", { expires_at: new Date(t0 + 60_000).toISOString() }));
  const c = conv("9");
  assert.equal(c.view.disappear_after, 60);
  assert.equal(sweepExpired(t0 + 59_999), false);
  assert.deepEqual(c.seqs, [1, 2]);
  assert.equal(c.view.latest_message.seq, 2);
  assert.equal(sweepExpired(t0 + 60_000), true);
  assert.deepEqual(c.seqs, [1]);
  assert.equal(c.byId.has("102"), false);
  assert.equal(c.view.latest_message.seq, 1);
  assert.equal(cursor(c), 2, "sync goes on from past the dropped message");
  // One that expired before it arrived is never held.
  assert.equal(addMessage(msg(3, "2", { expires_at: new Date(Date.now() - 1000).toISOString() })), false);
  assert.deepEqual(c.seqs, [1]);
  assert.equal(expired({ expires_at: null }), false);
  assert.equal(timerLabel(3600), "1 hour");
  assert.equal(timerLabel(90), "90 seconds");
  assert.equal(timerLabel(0), "off");
});

test("edit and reaction entries change their message, are not shown, and are not unread", () => {
  setConversation(view());
  addMessage(msg(1, "2"));
  addMessage(msg(2, "2", { type: "edit", body: "m1 fixed", edit_of: "101" }));
  addMessage(msg(3, "3", { type: "reaction", body: "👍", reaction_of: "101" }));
  addMessage(msg(4, "1", { type: "reaction", body: "👍", reaction_of: "101" }));
  addMessage(msg(5, "3", { type: "reaction", body: "❤️", reaction_of: "101" }));
  const c = conv("9");
  const m = c.byId.get("101");
  assert.equal(m.body, "m1 fixed");
  assert.ok(m.edited_at);
  assert.deepEqual(m.reactions.map((r) => [r.emoji, r.count]), [["👍", 1], ["❤️", 1]]);
  assert.equal(c.view.unread_count, 1);
  assert.equal(c.view.latest_message.body, "m1 fixed");
  // A removal, then an entry replayed again changes nothing.
  addMessage(msg(6, "1", { type: "reaction", body: "", reaction_of: "101" }));
  addMessage(msg(4, "1", { type: "reaction", body: "👍", reaction_of: "101" }));
  assert.deepEqual(c.byId.get("101").reactions.map((r) => [r.emoji, r.count]), [["❤️", 1]]);
});

test("a message fetched after its edit is not edited back by the older entry", () => {
  setConversation(view());
  addMessage(msg(5, "2"));
  addMessage(msg(1, "2", { body: "latest", edited_at: new Date().toISOString() }));
  addMessage(msg(2, "2", { type: "edit", body: "older", edit_of: "101" }));
  assert.equal(conv("9").byId.get("101").body, "latest");
});

test("a new message brings an archived chat back unless it is muted", () => {
  setConversation(view({ archived: true }));
  addMessage(msg(1, "2"));
  assert.equal(conv("9").view.archived, false);
  setConversation(view({ archived: true, muted: true, last_seq: 1 }));
  addMessage(msg(2, "2"));
  assert.equal(conv("9").view.archived, true);
});

test("a group's shared conversation event keeps this user's own fields and takes the role from the members", () => {
  setConversation(view({ role: "owner", unread_count: 3, muted: true, pinned: true, pinned_at: "2026-01-01T00:00:00Z", archived: false, latest_message: msg(2, "2") }));
  // As the event has it: no role, no per-member fields.
  const shared = { id: "9", type: "group", title: "G2", recipient_name: "G2", last_seq: 2, active: true,
    members: [{ user_id: "1", role: "admin", delivered_seq: 0, read_seq: 0 }, { user_id: "2", role: "owner", delivered_seq: 0, read_seq: 0 }] };
  setConversation(shared);
  const v = conv("9").view;
  assert.equal(v.title, "G2");
  assert.equal(v.role, "admin");
  assert.equal(v.unread_count, 3);
  assert.equal(v.muted, true);
  assert.equal(v.pinned, true);
  assert.equal(v.pinned_at, "2026-01-01T00:00:00Z");
  assert.equal(v.latest_message.seq, 2);
  // A whole view replaces them.
  setConversation(view({ role: "member", unread_count: 0, muted: false, pinned: false, pinned_at: null, archived: true, latest_message: null }));
  const w = conv("9").view;
  assert.equal(w.role, "member");
  assert.equal(w.pinned_at, null);
  assert.equal(w.archived, true);
});
