// The reference relay: the plain Node Socket.IO server that DESIGN §6
// measures Parley against. It speaks the part of Parley's contract that
// the load generator (internal/loadgen) uses, and stores nothing: users,
// sessions and conversations live in memory, a message is acked with the
// conversation's next seq and emitted to the other members' user rooms.
//
//   node relay.mjs [port]     (default 0: any free port)
//
// It listens on 127.0.0.1 only and prints "relay listening on ADDR" once it
// accepts connections.
//
// HTTP: POST /v1/users (register), POST /v1/sessions (log in),
// DELETE /v1/sessions/current (log out, ending the session's sockets),
// POST /v1/conversation (open the 1:1 conversation with member_ids[0]).
// Socket.IO (token in the CONNECT auth): `send` acked with
// {ok, message: {id, conversation_id, seq, sender_id, client_msg_id, …}},
// `message` to each other member's room, `sync` acked {ok, caught_up}.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { Server } from "socket.io";

const maxBody = 64 << 10;

const users = new Map(); // handle → {id, handle, password}
const sessions = new Map(); // token → {user, deviceID, sockets: Set}
const conversations = new Map(); // id → {id, members: [userID…], seq}
const direct = new Map(); // "a:b" (a < b) → conversation
let nextID = 1;

function newID() {
  return String(nextID++);
}

function userView(u) {
  return { id: u.id, handle: u.handle, display_name: u.handle, profile_pic: "", bio: "" };
}

function answer(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const b = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(b) }).end(b);
}

function fail(res, status, code, message) {
  answer(res, status, { error: { code, message } });
}

function readJSON(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n > maxBody) {
        req.destroy();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
      } catch {
        resolve(null);
      }
    });
    req.on("error", () => resolve(null));
  });
}

function sessionOf(req) {
  const h = req.headers.authorization || "";
  return h.startsWith("Bearer ") ? sessions.get(h.slice(7)) : undefined;
}

async function handle(req, res) {
  const url = new URL(req.url, "http://relay");
  const route = `${req.method} ${url.pathname}`;
  if (route === "POST /v1/users") {
    const b = await readJSON(req);
    if (!b || typeof b.handle !== "string" || typeof b.password !== "string") return fail(res, 400, "invalid", "handle and password are required");
    if (users.has(b.handle)) return fail(res, 409, "conflict", "handle taken");
    const u = { id: newID(), handle: b.handle, password: b.password };
    users.set(u.handle, u);
    return answer(res, 201, userView(u));
  }
  if (route === "POST /v1/sessions") {
    const b = await readJSON(req);
    const u = b && users.get(b.handle);
    if (!u || u.password !== b.password) return fail(res, 401, "unauthorized", "wrong handle or password");
    const token = randomBytes(16).toString("hex");
    const s = { user: u, deviceID: newID(), sockets: new Set() };
    sessions.set(token, s);
    return answer(res, 200, { token, user: userView(u), device_id: s.deviceID });
  }
  const s = sessionOf(req);
  if (route === "DELETE /v1/sessions/current") {
    if (!s) return fail(res, 401, "unauthorized", "no session");
    sessions.delete(req.headers.authorization.slice(7));
    for (const sock of s.sockets) sock.disconnect(true);
    return answer(res, 204);
  }
  if (route === "POST /v1/conversation") {
    if (!s) return fail(res, 401, "unauthorized", "no session");
    const b = await readJSON(req);
    const peer = b && Array.isArray(b.member_ids) && b.member_ids.length === 1 ? String(b.member_ids[0]) : "";
    if (!peer || peer === s.user.id) return fail(res, 400, "invalid", "one other member is required");
    const key = [s.user.id, peer].sort().join(":");
    let v = direct.get(key);
    const created = !v;
    if (created) {
      v = { id: newID(), members: [s.user.id, peer], seq: 0 };
      direct.set(key, v);
      conversations.set(v.id, v);
    }
    return answer(res, created ? 201 : 200, { id: v.id, type: "direct", title: "", recipient_id: peer, last_seq: v.seq, role: "member", active: true });
  }
  fail(res, 404, "not_found", "no such route");
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => fail(res, 500, "internal", "internal error"));
});
const io = new Server(server, { serveClient: false, maxHttpBufferSize: maxBody });

io.use((socket, next) => {
  const s = sessions.get(socket.handshake.auth && socket.handshake.auth.token);
  if (!s) return next(new Error("unauthorized"));
  socket.data.session = s;
  next();
});

io.on("connection", (socket) => {
  const s = socket.data.session;
  const me = s.user.id;
  s.sockets.add(socket);
  socket.join(me);
  socket.on("disconnect", () => s.sockets.delete(socket));
  socket.on("send", (req, ack) => {
    if (typeof ack !== "function") return;
    const v = req && conversations.get(String(req.conversation_id));
    if (!v || !v.members.includes(me)) {
      ack({ ok: false, error: { code: "not_found", message: "no such conversation" } });
      return;
    }
    const message = {
      id: newID(),
      conversation_id: v.id,
      seq: ++v.seq,
      sender_id: me,
      client_msg_id: req.client_msg_id,
      type: req.type || "text",
      body: req.body,
      created_at: new Date().toISOString(),
    };
    ack({ ok: true, message });
    for (const m of v.members) {
      if (m !== me) io.to(m).emit("message", message);
    }
  });
  socket.on("sync", (_req, ack) => {
    if (typeof ack === "function") ack({ ok: true, caught_up: true });
  });
});

const port = Number(process.argv[2] || 0);
server.listen(port, "127.0.0.1", () => {
  const a = server.address();
  console.log(`relay listening on ${a.address}:${a.port}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
