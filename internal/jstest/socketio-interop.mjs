// Drives the official socket.io-client against a Parley Socket.IO server
// started by socketio/interop_test.go. Usage:
//   node socketio-interop.mjs <server URL> <default|websocket|polling>
// Prints one line per passed step and "PASS" at the end; exits non-zero with
// the failing step otherwise.
import { io } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
const transports = { default: undefined, websocket: ["websocket"], polling: ["polling"] }[mode];
if (!url || mode === undefined || (mode !== "default" && !transports)) {
  console.error("usage: node socketio-interop.mjs <url> <default|websocket|polling>");
  process.exit(2);
}

const deadline = setTimeout(() => fail("timed out"), 20000);

function fail(msg) {
  console.error("FAIL " + mode + ": " + msg);
  process.exit(1);
}

function step(name) {
  console.log("ok " + mode + ": " + name);
}

function once(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

function equal(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fail(`${what}: got ${g}, want ${w}`);
}

const opts = {
  auth: { token: "secret" },
  reconnectionDelay: 50,
  reconnectionDelayMax: 100,
};
if (transports) opts.transports = transports;

// A refused connection surfaces as connect_error with the server's message.
{
  const bad = io(url, { ...opts, auth: { token: "wrong" }, reconnection: false });
  const [err] = await once(bad, "connect_error");
  equal(err.message, "unauthorized", "connect_error message");
  bad.close();
  step("connect_error on bad auth");
}

const socket = io(url, opts);
socket.on("connect_error", (err) => fail("connect_error: " + err.message));
const [welcome] = await once(socket, "welcome");
equal(welcome, { token: "secret" }, "auth payload seen by the server");
step("connect with auth");

if (mode === "default") {
  const engine = socket.io.engine;
  if (engine.transport.name !== "websocket") await once(engine, "upgrade");
  equal(engine.transport.name, "websocket", "transport after upgrade");
  step("upgrade from polling to websocket");
} else {
  equal(socket.io.engine.transport.name, mode, "transport");
}

// Client → server with ack.
const echoed = await socket.timeout(5000).emitWithAck("echo", { n: 1 }, "two", [3]);
equal(echoed, { n: 1 }, "ack from the server");
step("emit with ack, client to server");

// Server → client with ack: the server asks, we answer, it reports back.
socket.on("question", (q, answer) => answer({ answer: q.x * 2 }));
socket.emit("ask-me", 21);
const [report] = await once(socket, "answer-received");
equal(report, { answer: 42 }, "answer seen by the server");
step("emit with ack, server to client");

// Binary payload in both directions.
const payload = Buffer.from([0, 1, 2, 250, 251, 252]);
const back = await socket.timeout(5000).emitWithAck("binary", "label", payload);
if (!Buffer.isBuffer(back) || !back.equals(payload)) fail("binary ack: got " + back);
step("binary payload");

// The server drops the transport: the client reconnects by itself.
const firstId = socket.id;
socket.emit("drop-me");
const [reason1] = await once(socket, "disconnect");
if (reason1 !== "transport close" && reason1 !== "transport error") fail("drop reason: " + reason1);
await once(socket, "welcome");
if (!socket.connected || socket.id === firstId) fail("did not reconnect with a new socket");
step("reconnect after the server dropped the transport (" + reason1 + ")");

// The server disconnects the socket: the client must not reconnect.
socket.emit("kick-me");
const [reason2] = await once(socket, "disconnect");
equal(reason2, "io server disconnect", "server disconnect reason");
await new Promise((r) => setTimeout(r, 300));
if (socket.connected || socket.active) fail("reconnected after a server disconnect");
step("server disconnect");

socket.close();
clearTimeout(deadline);
console.log("PASS " + mode);
process.exit(0);
