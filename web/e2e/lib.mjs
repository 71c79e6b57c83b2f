// Helpers for the browser tests: people are driven the way a person uses
// the client, by role and label, never by CSS structure.
import { chromium } from "playwright-core";
import { deflateSync } from "node:zlib";

export const base = process.argv[2] || process.env.PARLEY_URL || "http://127.0.0.1:8080";
export const run = Math.random().toString(36).slice(2, 7);

export async function launch() {
  // playwright gives every launch a fresh profile directory of its own.
  const b = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
      "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
  });
  return b;
}

export const desktop = { width: 1200, height: 800 };
export const phone = { width: 390, height: 780 };

// person opens the client in a context of its own and creates an account.
export async function person(browser, name, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport || desktop, acceptDownloads: true, ...(opts.context || {}) });
  const page = await context.newPage();
  const errors = watch(page, name);
  const handle = `${name}_${run}`;
  await page.goto(base);
  await page.getByLabel("Handle").fill(handle);
  await page.getByLabel("Password").fill("correct horse");
  await page.getByLabel("Display name (new accounts)").fill(opts.displayName || cap(name));
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
  return { name: opts.displayName || cap(name), handle, context, page, errors };
}

// watch collects what must never happen on a page: an uncaught error, a
// Content-Security-Policy or Trusted Types violation. Refused requests are
// part of some stories (a 404 feature probe, a picture only its owner may
// read) and are only logged.
export function watch(page, name) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error" && m.type() !== "warning") return;
    const t = m.text();
    if (/Content Security Policy|Trusted ?Type|TrustedScript|TrustedHTML/i.test(t)) errors.push(`policy violation: ${t}`);
    else if (m.type() === "error" && !t.startsWith("Failed to load resource") && !t.includes("WebSocket connection")) console.error(`[${name}] console: ${t}`);
  });
  return errors;
}

export function cap(s) {
  return s[0].toUpperCase() + s.slice(1);
}

export async function newChat(p, other) {
  await p.page.getByRole("button", { name: "New chat" }).click();
  await p.page.getByLabel("Search by handle").fill(other.handle);
  await p.page.getByRole("button", { name: `Chat with ${other.name} (@${other.handle})` }).click();
  await p.page.getByRole("heading", { name: other.name }).waitFor();
}

export async function openChat(p, title) {
  await p.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: new RegExp(`^${title}\\b`) }).click();
  await p.page.getByRole("heading", { name: title, exact: true }).waitFor();
}

export async function send(p, text) {
  const box = p.page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

export function messages(p) {
  return p.page.getByRole("list", { name: "Messages" });
}

export function message(p, text) {
  return messages(p).getByRole("listitem").filter({ hasText: text });
}

// texts returns the message bodies on screen, in order.
export async function texts(p) {
  return messages(p).getByRole("listitem").filter({ has: p.page.locator("p") }).allInnerTexts();
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export async function eventually(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// png returns a w×h PNG of two colours, for the image tests.
export function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const top = y < h / 2;
      raw[o] = top ? 31 : 240;
      raw[o + 1] = top ? 122 : 180;
      raw[o + 2] = top ? 92 : 60;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0)),
  ]);
}

// apiAs calls the HTTP API directly, for seeding data fast.
export async function apiAs(token, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

// login opens the client in a new context and logs in.
export async function login(browser, name, handle, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport || desktop });
  const page = await context.newPage();
  const errors = watch(page, name);
  await page.goto(base);
  await page.getByLabel("Handle").fill(handle);
  await page.getByLabel("Password").fill("correct horse");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
  return { name, handle, context, page, errors };
}
