// Chat scenarios with the official socket.io-client against a whole Parley
// node, driven by cmd/parley/realtime_test.go. Usage:
//   node chat.mjs <scenario> <server URL> <default|plain|websocket|polling>
// "plain" is the client's own defaults outside a browser: long-polling
// first, then the upgrade, and no cookies kept.
// The Go test prepares users and conversations over HTTP and passes them in
// the PARLEY_SETUP environment variable (JSON). The script prints "ok ..."
// per step and, last, "RESULT <json>" for the Go test to check; it exits
// non-zero with "FAIL ..." when a step fails.
import { io } from "socket.io-client";

const [scenario, url, mode] = process.argv.slice(2);
const setup = JSON.parse(process.env.PARLEY_SETUP || "{}");
const transports = { default: undefined, plain: undefined, websocket: ["websocket"], polling: ["polling"] }[mode];
const upgrades = mode === "default" || mode === "plain";
const deadline = setTimeout(() => fail("timed out"), 60000);

function fail(msg) {
  console.error(`FAIL ${scenario}/${mode}: ${msg}`);
  process.exit(1);
}
function step(name) {
  console.log(`ok ${scenario}/${mode}: ${name}`);
}
function check(cond, what) {
  if (!cond) fail(what);
}
function done(result) {
  clearTimeout(deadline);
  console.log("RESULT " + JSON.stringify(result));
  process.exit(0);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// connect opens a socket for a token and resolves once connected; the
// socket collects every event by name in s.got.
function connect(token, extra = {}) {
  // withCredentials keeps cookies, as a browser does; "plain" keeps none,
  // as the client does by default outside a browser.
  const opts = { auth: { token }, reconnectionDelay: 100, reconnectionDelayMax: 300, withCredentials: mode !== "plain", ...extra };
  if (transports) opts.transports = transports;
  const s = io(url, opts);
  s.got = {};
  s.onAny((event, ...args) => {
    (s.got[event] ||= []).push(args[0]);
  });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => reject(err));
  });
}

function ack(s, event, payload, timeout = 10000) {
  return s.timeout(timeout).emitWithAck(event, payload);
}

async function until(cond, what, timeout = 20000) {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) fail("waiting for " + (typeof what === "function" ? what() : what));
    await sleep(10);
  }
}

const seqs = (msgs) => (msgs || []).map((m) => m.seq);

const scenarios = {
  // Two users chat; a second device of the sender sees the sender's messages.
  async chat() {
    const { alice1, alice2, bob, carolConv, conv, aliceID, bobID } = setup;
    const a1 = await connect(alice1);
    const a2 = await connect(alice2);
    const b = await connect(bob);
    step("three devices connected");
    if (upgrades) {
      await until(() => a1.io.engine.transport.name === "websocket", "upgrade to websocket");
      step("upgraded from polling to websocket");
    }
    const acks = [];
    for (let i = 1; i <= 20; i++) {
      const r = await ack(a1, "send", { conversation_id: conv, client_msg_id: `m${i}`, type: "text", body: `hello ${i}` });
      check(r.ok === true, "send ack ok: " + JSON.stringify(r));
      acks.push(r.message.seq);
    }
    step("20 sends acked");
    await until(() => (b.got.message || []).length >= 20, "bob's 20 messages");
    await until(() => (a2.got.message || []).length >= 20, () => "alice's other device's 20 messages, has " + JSON.stringify(seqs(a2.got.message)) + " on " + a2.io.engine.transport.name);
    step("messages delivered to bob and to alice's other device");

    const d = await ack(b, "delivered", { conversation_id: conv, seq: 20 });
    check(d.ok === true, "delivered ack");
    await until(() => (a1.got.receipt || []).some((r) => r.user_id === bobID && r.delivered_seq === 20), "delivered receipt");
    const rd = await ack(b, "read", { conversation_id: conv, seq: 20 });
    check(rd.ok === true, "read ack");
    await until(() => (a1.got.receipt || []).some((r) => r.user_id === bobID && r.read_seq === 20), "read receipt");
    step("delivered then read receipts reached the sender");

    b.emit("typing", { conversation_id: conv });
    await until(() => (a1.got.typing || []).length > 0, "typing event");
    step("typing");

    const again = await ack(b, "conversation:create", { member_ids: [aliceID] });
    check(again.ok && again.conversation.id === conv && again.created === false, "conversation:create returns the existing one: " + JSON.stringify(again));
    step("conversation:create");

    const rc = await ack(a1, "recall", { conversation_id: conv, message_id: (a2.got.message || [])[19].id });
    check(rc.ok && rc.message.recalled_at, "recall ack: " + JSON.stringify(rc));
    await until(() => (b.got.recall || []).length === 1 && (b.got.message || []).length === 21, "recall reached bob");
    await until(() => (a1.got.message || []).length === 1, "the recall entry reached the sending device");
    step("recall");

    const notMember = await ack(a1, "send", { conversation_id: carolConv, client_msg_id: "x", type: "text", body: "hi" });
    const invalid = await ack(a1, "send", { conversation_id: conv, type: "text", body: "no id" });
    const notObject = await ack(a1, "read", "nope");
    const badSeq = await ack(a1, "read", { conversation_id: conv, seq: 9999 });
    const unknown = await ack(a1, "frobnicate", { x: 1 });
    a1.emit("send", { conversation_id: carolConv, client_msg_id: "y", type: "text", body: "no ack" });
    await until(() => (a1.got.error || []).length === 1, "error event for a failed event without ack");
    check(a1.got.error[0].event === "send" && a1.got.error[0].code === "not_found", "error event: " + JSON.stringify(a1.got.error[0]));
    step("error acks");

    done({
      acks,
      bob: seqs(b.got.message),
      alice2: seqs(a2.got.message),
      alice1Messages: (a1.got.message || []).length,
      recall: b.got.recall[0],
      lastBob: b.got.message[20],
      errors: [notMember, invalid, notObject, badSeq, unknown].map((r) => (r.ok ? "ok" : r.error.code)),
      transport: a1.io.engine.transport.name,
      nodes: [a1, a2, b].map((s) => s.io.engine.transport.name),
    });
  },

  // Edit, react and forward: each change is a log entry that reaches every
  // device as a message, the acting one included; its acks and errors.
  async changes() {
    const { alice1, alice2, bob, conv } = setup;
    const a1 = await connect(alice1);
    const a2 = await connect(alice2);
    const b = await connect(bob);
    step("three devices connected");
    const sent = await ack(a1, "send", { conversation_id: conv, client_msg_id: "c1", type: "text", body: "helo" });
    check(sent.ok, "send: " + JSON.stringify(sent));
    const id = sent.message.id;
    const ed = await ack(a1, "edit", { conversation_id: conv, message_id: id, body: "hello" });
    check(ed.ok && ed.message.id === id && ed.message.body === "hello" && ed.message.edited_at, "edit ack: " + JSON.stringify(ed));
    const rb = await ack(b, "react", { conversation_id: conv, message_id: id, emoji: "👍" });
    check(rb.ok === true && Object.keys(rb).length === 1, "react ack: " + JSON.stringify(rb));
    const fw = await ack(b, "send", { conversation_id: conv, client_msg_id: "f1", forward_of: { conversation_id: conv, message_id: id } });
    check(fw.ok && fw.message.forwarded === true && fw.message.body === "hello", "forward ack: " + JSON.stringify(fw));
    step("edit, react and forward acked");
    await until(() => (a2.got.message || []).length >= 4, "alice's other device's 4 entries");
    await until(() => (b.got.message || []).length >= 2, "bob's entries");
    await until(() => (a1.got.message || []).length >= 3, () => "alice's own device's entries, has " + JSON.stringify(seqs(a1.got.message)));
    step("entries delivered");
    const notSender = await ack(b, "edit", { conversation_id: conv, message_id: id, body: "mine" });
    const notEmoji = await ack(b, "react", { conversation_id: conv, message_id: id, emoji: "yes" });
    const noBody = await ack(a1, "edit", { conversation_id: conv, message_id: id });
    const noMessage = await ack(b, "react", { conversation_id: conv, message_id: "999999", emoji: "👍" });
    step("error acks");
    done({
      alice1: (a1.got.message || []).map((m) => m.type),
      alice2: (a2.got.message || []).map((m) => m.type),
      bob: (b.got.message || []).map((m) => m.type),
      edit: (a2.got.message || []).find((m) => m.type === "edit"),
      reaction: (a2.got.message || []).find((m) => m.type === "reaction"),
      errors: [notSender, notEmoji, noBody, noMessage].map((r) => (r.ok ? "ok" : r.error.code)),
    });
  },

  // The recipient's connection drops while 500 messages are sent; the
  // client reconnects by itself, syncs from its cursor, and ends with
  // exactly seqs 1..500. A send retried after a lost ack returns the same
  // message.
  async resync() {
    const { alice, bob, conv } = setup;
    const a = await connect(alice);
    const b = await connect(bob);
    const seen = new Map(); // seq -> id, across reconnects
    let dups = 0;
    const record = (m) => {
      if (seen.has(m.seq)) dups++;
      seen.set(m.seq, m.id);
    };
    b.on("message", record);
    let reconnected = 0, synced = 0;
    b.on("connect", async () => {
      reconnected++;
      // Sync from the highest seq held in order.
      let cur = 0;
      while (seen.has(cur + 1)) cur++;
      const r = await ack(b, "sync", { cursors: { [conv]: cur } }, 30000);
      check(r.ok && r.caught_up === true, "sync ack: " + JSON.stringify(r));
      synced++;
    });
    let inFlight = [];
    let dropped = false;
    for (let i = 1; i <= 500; i++) {
      inFlight.push(ack(a, "send", { conversation_id: conv, client_msg_id: `r${i}`, type: "text", body: `m${i}` }));
      if (inFlight.length >= 20) {
        for (const r of await Promise.all(inFlight)) check(r.ok, "send: " + JSON.stringify(r));
        inFlight = [];
      }
      if (i === 110) {
        // The first 100 are acked (in flight drains every 20) and 101..110
        // are on their way: once the recipient has the first 100, its
        // network drops mid-stream, however fast deliveries keep up with
        // acks on this machine; the client reconnects by itself.
        await until(() => seen.size >= 100, () => "the recipient's first 100 messages (has " + seen.size + ")");
        b.io.engine.close();
        dropped = true;
        step("recipient's connection dropped after " + seen.size + " messages");
      }
    }
    for (const r of await Promise.all(inFlight)) check(r.ok, "send");
    step("500 sends acked");
    check(dropped, "the connection was dropped");
    await until(() => reconnected >= 1 && synced >= 1 && seen.size >= 500, "recipient caught up (" + seen.size + ")", 30000);

    const first = await ack(a, "send", { conversation_id: conv, client_msg_id: "retry-1", type: "text", body: "once" });
    const retry = await ack(a, "send", { conversation_id: conv, client_msg_id: "retry-1", type: "text", body: "once" });
    step("retried send");
    await until(() => seen.size >= 501, "the retried message once");
    await sleep(300);
    const got = [...seen.keys()].sort((x, y) => x - y);
    done({ count: got.length, first: got[0], last: got[got.length - 1], dense: got.every((s, i) => s === i + 1), dups,
      reconnected, retrySame: first.message.id === retry.message.id && first.message.seq === retry.message.seq });
  },

  // 20 senders in one group at once: every device sees the same dense order.
  async group() {
    const { tokens, conv } = setup;
    const socks = await Promise.all(tokens.map((t) => connect(t)));
    step(`${socks.length} devices connected`);
    const views = socks.map(() => new Map());
    socks.forEach((s, i) => s.on("message", (m) => views[i].set(m.seq, m.id)));
    const per = 25;
    await Promise.all(socks.map(async (s, i) => {
      for (let j = 0; j < per; j++) {
        const r = await ack(s, "send", { conversation_id: conv, client_msg_id: `g${i}-${j}`, type: "text", body: `from ${i}` });
        check(r.ok, "send: " + JSON.stringify(r));
        views[i].set(r.message.seq, r.message.id);
      }
    }));
    step("all sends acked");
    const total = per * socks.length;
    await until(() => views.every((v) => v.size >= total), () => "every device has every message: " + JSON.stringify(views.map((v) => v.size)) +
      " missing on first short device: " + JSON.stringify(((v) => { const m = []; for (let s = 1; s <= total; s++) if (!v.has(s)) m.push(s); return m.slice(0, 20); })(views.find((v) => v.size < total) || new Map())));
    const ref = JSON.stringify([...views[0].entries()].sort((a, b) => a[0] - b[0]));
    done({ total, sizes: views.map((v) => v.size), same: views.every((v) => JSON.stringify([...v.entries()].sort((a, b) => a[0] - b[0])) === ref),
      dense: [...views[0].keys()].sort((a, b) => a - b).every((s, i) => s === i + 1) });
  },

  // A backlog bigger than one sync replays: the client syncs until caught up.
  async bigsync() {
    const { bob, conv } = setup;
    const b = await connect(bob);
    const seen = [];
    b.on("message", (m) => seen.push(m.seq));
    let cursor = 0, calls = 0;
    for (;;) {
      const r = await ack(b, "sync", { cursors: { [conv]: cursor } }, 30000);
      check(r.ok, "sync: " + JSON.stringify(r));
      calls++;
      await sleep(50);
      cursor = seen.length ? seen[seen.length - 1] : 0;
      if (r.caught_up) break;
      check(calls < 20, "too many sync calls");
    }
    done({ calls, count: seen.length, inOrder: seen.every((s, i) => s === i + 1) });
  },

  // Refused connections; an oversized packet closes only that session.
  async badinput() {
    const { alice, bob, conv } = setup;
    const errs = [];
    for (const auth of [{ token: "not-a-token" }, {}]) {
      try {
        await connect(undefined, { auth, reconnection: false });
        errs.push("connected");
      } catch (e) {
        errs.push(e.message);
      }
    }
    step("bad tokens refused");
    const big = await connect(alice, { reconnection: false });
    const other = await connect(bob);
    const closed = new Promise((r) => big.once("disconnect", (reason) => r(reason)));
    big.emit("send", { conversation_id: conv, client_msg_id: "big", type: "text", body: "x".repeat(2_000_000) });
    const reason = await closed;
    step("oversized packet closed its session: " + reason);
    const r = await ack(other, "send", { conversation_id: conv, client_msg_id: "after", type: "text", body: "still here" });
    done({ errs, reason, otherOK: r.ok === true });
  },

  // The README's snippet, word for word, six times over: every socket
  // connects, syncs and upgrades with nothing but the client's defaults.
  async readme() {
    const sockets = [];
    for (const token of setup.tokens) {
      const socket = io(url, { auth: { token } });
      sockets.push(socket);
      await new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
    }
    step(`${sockets.length} sockets connected`);
    let synced = 0;
    for (const s of sockets) {
      const r = await ack(s, "sync", {});
      if (r.ok === true && r.caught_up === true) synced++;
    }
    step(`${synced} sockets synced`);
    await until(() => sockets.every((s) => s.io.engine.transport.name === "websocket"), "every socket upgraded");
    step("every socket upgraded to websocket");
    const ids = sockets.map((s) => s.io.engine.id);
    sockets.forEach((s) => s.disconnect());
    done({ connected: sockets.length, synced, sids: ids });
  },
};

const fn = scenarios[scenario];
if (!fn || !url || (!upgrades && !transports)) {
  console.error("usage: node chat.mjs <" + Object.keys(scenarios).join("|") + "> <url> <default|plain|websocket|polling>");
  process.exit(2);
}
fn().catch((e) => fail(e && e.stack ? e.stack : String(e)));
