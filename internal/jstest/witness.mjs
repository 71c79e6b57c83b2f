// A witness pair for cmd/parley/hostile_ws_test.go: while a hostile client
// works on the node, alice sends bob a message every interval with the
// official socket.io-client, and the script measures each message from the
// send to its arrival at bob. Usage:
//   node witness.mjs <server URL>
// PARLEY_SETUP (JSON) gives {alice, bob, conv, intervalMs}. The script prints
// "READY" once both are connected and runs until its stdin closes, then
// waits for every acknowledged message to reach bob and prints
// "RESULT {sent, acked, received, lost, p50, p99, max}" (milliseconds).
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const { alice, bob, conv, intervalMs = 50 } = JSON.parse(process.env.PARLEY_SETUP || "{}");

function fail(msg) {
  console.error("FAIL witness: " + msg);
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect(token) {
  const s = io(url, { auth: { token }, transports: ["websocket"], reconnectionDelay: 100, reconnectionDelayMax: 300 });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => reject(err));
  });
}

const a = await connect(alice).catch((e) => fail("alice: " + e.message));
const b = await connect(bob).catch((e) => fail("bob: " + e.message));
const sentAt = new Map(); // body → time of the send
const latency = new Map(); // body → ms to bob
let acked = 0;
let reconnects = 0;
a.io.on("reconnect", () => reconnects++);
b.io.on("reconnect", () => reconnects++);
b.on("message", (m) => {
  const t0 = sentAt.get(m.body);
  if (t0 !== undefined && !latency.has(m.body)) latency.set(m.body, performance.now() - t0);
});
console.log("READY");

let stopping = false;
process.stdin.on("end", () => (stopping = true));
process.stdin.on("close", () => (stopping = true));
process.stdin.resume();

let i = 0;
while (!stopping) {
  const body = `witness ${i}`;
  const id = `w${i}`;
  i++;
  sentAt.set(body, performance.now());
  a.timeout(30000)
    .emitWithAck("send", { conversation_id: conv, client_msg_id: id, type: "text", body })
    .then((r) => {
      if (r && r.ok) acked++;
      else console.error("witness send refused: " + JSON.stringify(r));
    })
    .catch((e) => console.error("witness send: " + e.message));
  await sleep(intervalMs);
}
// Every acknowledged message must reach bob.
const end = performance.now() + 15000;
while ((acked < sentAt.size || latency.size < acked) && performance.now() < end) await sleep(20);
const ms = [...latency.values()].sort((x, y) => x - y);
const q = (p) => (ms.length ? Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]) : 0);
console.log("RESULT " + JSON.stringify({ sent: sentAt.size, acked, received: latency.size, lost: acked - latency.size, reconnects, p50: q(0.5), p99: q(0.99), max: q(1) }));
process.exit(0);
