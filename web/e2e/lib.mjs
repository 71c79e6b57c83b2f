// Helpers for the browser tests: people are driven the way a person uses
// the client, by role and label, never by CSS structure.
import { chromium } from "playwright-core";

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
  const context = await browser.newContext({ viewport: opts.viewport || desktop, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.error(`[${name}] console: ${m.text()}`); });
  const handle = `${name}_${run}`;
  await page.goto(base);
  await page.getByLabel("Handle").fill(handle);
  await page.getByLabel("Password").fill("correct horse");
  await page.getByLabel("Display name (new accounts)").fill(cap(name));
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
  return { name: cap(name), handle, context, page };
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
