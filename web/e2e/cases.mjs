// The cases, each a person-level story.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  watch, person, login, newChat, openChat, send, message, messages, texts, assert, eventually, png, apiAs, base, run, desktop, phone,
} from "./lib.mjs";

// seedLongConversation writes 10,000 messages into a new 1:1 conversation
// over the HTTP API. run.mjs starts it once the cases in quiet ran, so it
// runs while the others do.
let seeding = null;
// quiet are the cases whose timing the seeding's load would upset: a
// client's reconnection after the network came back.
export const quiet = ["offline"];

export function prepare(only) {
  if (!only.length || only.includes("scroll")) seeding = seedLongConversation();
  seeding?.catch(() => {}); // reported by the case that awaits it
}

async function seedLongConversation() {
  const N = 10000;
  const a = `ivy_${run}`;
  const b = `jon_${run}`;
  await apiAs(null, "POST", "/v1/users", { handle: a, password: "correct horse", display_name: "Ivy" });
  await apiAs(null, "POST", "/v1/users", { handle: b, password: "correct horse", display_name: "Jon" });
  const sa = await apiAs(null, "POST", "/v1/sessions", { handle: a, password: "correct horse" });
  const sb = await apiAs(null, "POST", "/v1/sessions", { handle: b, password: "correct horse" });
  const conv = await apiAs(sa.token, "POST", "/v1/conversation", { member_ids: [sb.user.id] });
  let next = 1;
  const t0 = Date.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i > N) return;
      const tok = i % 2 ? sa.token : sb.token;
      await apiAs(tok, "POST", `/v1/conversation/${conv.id}/messages`, { client_msg_id: `seed-${i}`, type: "text", body: `message ${i}` });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  console.log(`     (seeded ${N} messages in ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  return { a, sa, conv };
}

// close ends the people's sessions, failing on any page error or policy
// violation seen meanwhile.
async function close(...people) {
  for (const p of people) await p.context.close();
  const errors = people.flatMap((p) => p.errors.map((e) => `${p.name}: ${e}`));
  assert(errors.length === 0, errors.join("\n"));
}

export const cases = {
  // Two people register and chat; ticks go ✓ → ✓✓ → read as the other
  // side receives and opens the chat; a message that looks like HTML stays
  // text.
  async chat(browser) {
    const alice = await person(browser, "alice");
    const bob = await person(browser, "bob");
    await newChat(alice, bob);
    // Bob is offline: Alice's message is stored, not delivered.
    await bob.context.setOffline(true);
    await send(alice, "Hello Bob");
    await message(alice, "Hello Bob").getByRole("img", { name: "Sent" }).waitFor();
    await bob.context.setOffline(false);
    // Bob's client catches up and acknowledges it; he has not opened it.
    await message(alice, "Hello Bob").getByRole("img", { name: "Delivered" }).waitFor();
    const conv = bob.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Alice\b.*\b1 unread/ });
    await conv.waitFor();
    await eventually(async () => (await bob.page.title()) === "(1) Parley", "the unread count in Bob's tab title");
    await openChat(bob, "Alice");
    await message(alice, "Hello Bob").getByRole("img", { name: "Read" }).waitFor();
    await message(bob, "Hello Bob").waitFor();

    const xss = "<img src=x onerror=\"document.title='pwned'\"> <b>bold</b>";
    await send(bob, xss);
    await message(alice, "<b>bold</b>").waitFor();
    assert((await messages(alice).locator("img").count()) === 0, "a message became an <img>");
    assert((await messages(alice).locator("b").count()) === 0, "a message became markup");
    assert(!(await alice.page.title()).includes("pwned"), "a message ran script");
    await send(alice, "see https://example.com/page ok");
    const link = message(bob, "see").getByRole("link", { name: "https://example.com/page" });
    await link.waitFor();
    assert((await link.getAttribute("href")) === "https://example.com/page", "link href");

    // Enter sends, Shift+Enter makes a new line.
    const box = alice.page.getByLabel("Message", { exact: true });
    await box.fill("line one");
    await box.press("Shift+Enter");
    await box.pressSequentially("line two");
    await box.press("Enter");
    await message(bob, "line two").waitFor();
    assert((await message(bob, "line two").innerText()).includes("line one\nline two"), "multi-line message");

    // Keyboard focus in the list survives a live update of that row.
    const row = bob.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Alice/ });
    await row.focus();
    await send(alice, "focus check");
    await message(bob, "focus check").waitFor();
    await bob.page.getByRole("list", { name: "Conversations" }).getByText("focus check").waitFor();
    assert(await row.evaluate((el) => el === document.activeElement), "keyboard focus was lost when the list updated");
    await close(alice, bob);
  },

  // The served policy holds in the browser: HTML, script text and script
  // URL sinks need Trusted Types, and no other policy can be made.
  async policy(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = watch(page, "policy");
    await page.goto(base);
    await page.getByRole("button", { name: "Log in" }).waitFor();
    const tries = await page.evaluate(() => {
      const attempt = (fn) => { try { fn(); return "allowed"; } catch { return "blocked"; } };
      return {
        innerHTML: attempt(() => { document.createElement("div").innerHTML = "<b>x</b>"; }),
        scriptSrc: attempt(() => { document.createElement("script").src = "/x.js"; }),
        scriptText: attempt(() => { document.createElement("script").textContent = "document.title = 'ran'"; }),
        policy: attempt(() => trustedTypes.createPolicy("other", { createHTML: (x) => x })),
      };
    });
    assert(JSON.stringify(tries) === JSON.stringify({ innerHTML: "blocked", scriptSrc: "blocked", scriptText: "blocked", policy: "blocked" }), `sinks: ${JSON.stringify(tries)}`);
    await eventually(() => errors.length >= 4, "the violations to be reported");
    await context.close();
  },

  // Bob's network is cut while both write; when it returns, every message
  // is there once, in order, and Bob's pending ones were sent.
  async offline(browser) {
    const alice = await person(browser, "carol");
    const bob = await person(browser, "dave");
    await newChat(alice, bob);
    await send(alice, "before 1");
    await openChat(bob, "Carol");
    await message(bob, "before 1").waitFor();
    await bob.context.setOffline(true);
    await bob.page.getByRole("status").filter({ hasText: "Offline" }).waitFor();
    await send(bob, "offline 1");
    await send(alice, "online 1");
    await send(bob, "offline 2");
    await send(alice, "online 2");
    await message(bob, "offline 2").getByRole("img", { name: "Pending" }).waitFor();
    await message(bob, "offline 1").getByRole("img", { name: "Pending" }).waitFor();
    await bob.context.setOffline(false);
    for (const t of ["online 1", "online 2"]) await message(bob, t).waitFor();
    for (const t of ["offline 1", "offline 2"]) {
      await message(alice, t).waitFor();
      await message(bob, t).getByRole("img", { name: /Delivered|Read/ }).waitFor();
    }
    const want = (xs) => xs.map((x) => x.split("\n")[0]);
    for (const p of [alice, bob]) {
      const got = want(await texts(p));
      const bodies = got.filter((x) => /^(before|online|offline) \d$/.test(x));
      assert(new Set(bodies).size === bodies.length, `${p.name} sees a duplicate: ${bodies}`);
      assert(bodies.length === 5, `${p.name} sees ${bodies}`);
      assert(bodies.indexOf("offline 1") < bodies.indexOf("offline 2"), `${p.name}: Bob's messages out of order: ${bodies}`);
      assert(bodies.indexOf("online 1") < bodies.indexOf("online 2"), `${p.name}: Alice's messages out of order: ${bodies}`);
    }
    // Both sides show the same order: the log's.
    assert(JSON.stringify(want(await texts(alice))) === JSON.stringify(want(await texts(bob))), "the two sides differ in order");

    // The queue survives a reload: written offline, reloaded while the
    // realtime endpoint is still unreachable, sent once it is back.
    await bob.context.setOffline(true);
    await send(bob, "written before a reload");
    await message(bob, "written before a reload").getByRole("img", { name: "Pending" }).waitFor();
    await bob.context.route("**/socket.io/**", (r) => r.abort());
    await bob.context.setOffline(false);
    await bob.page.reload();
    await bob.page.getByRole("status").filter({ hasText: "Connecting" }).waitFor();
    await openChat(bob, "Carol");
    await message(bob, "written before a reload").getByRole("img", { name: "Pending" }).waitFor();
    await bob.context.unroute("**/socket.io/**");
    await message(alice, "written before a reload").waitFor();
    await message(bob, "written before a reload").getByRole("img", { name: /Delivered|Read/ }).waitFor();
    assert((await message(alice, "written before a reload").count()) === 1, "the queued message arrived twice");
    await close(alice, bob);
  },

  // A group of three: sender names, and the message-info panel following
  // each member's delivered and read.
  async group(browser) {
    const ann = await person(browser, "ann");
    const ben = await person(browser, "ben");
    const cat = await person(browser, "cat");
    const p = ann.page;
    await p.getByRole("button", { name: "New chat" }).click();
    const dlg = p.getByRole("dialog", { name: "New chat" });
    await dlg.getByLabel("Group title").fill("Trip");
    await dlg.getByLabel("Members (handles, separated by commas)").fill(`${ben.handle}, ${cat.handle}`);
    await dlg.getByRole("button", { name: "Create group" }).click();
    await p.getByRole("heading", { name: "Trip", exact: true }).waitFor();
    await send(ann, "Who brings the map?");
    await message(ann, "Who brings the map?").getByRole("img", { name: "Delivered" }).waitFor();
    await openChat(ben, "Trip");
    const seen = message(ben, "Who brings the map?");
    await seen.waitFor();
    assert((await seen.innerText()).includes("Ann"), "the sender's name is shown in a group");
    await message(ann, "Who brings the map?").hover();
    await message(ann, "Who brings the map?").getByRole("button", { name: "Info" }).click();
    const info = p.getByRole("dialog", { name: "Message info" }).getByRole("list", { name: "Receipts" });
    await info.getByRole("listitem").filter({ hasText: "Ben" }).filter({ hasText: "Read" }).waitFor();
    await info.getByRole("listitem").filter({ hasText: "Cat" }).filter({ hasText: "Delivered" }).waitFor();
    await message(ann, "Who brings the map?").getByRole("img", { name: "Delivered" }).waitFor();
    // Cat reads it while the panel is open: it updates, and so does the tick.
    await openChat(cat, "Trip");
    await info.getByRole("listitem").filter({ hasText: "Cat" }).filter({ hasText: "Read" }).waitFor();
    await p.keyboard.press("Escape");
    await p.getByRole("dialog", { name: "Message info" }).waitFor({ state: "detached" });
    await message(ann, "Who brings the map?").getByRole("img", { name: "Read" }).waitFor();
    // Rename and membership through the details panel.
    await p.getByRole("button", { name: "Details" }).click();
    const det = p.getByRole("dialog", { name: "Details of Trip" });
    await det.getByLabel("Group title").fill("Trip 2027");
    await det.getByRole("button", { name: "Rename" }).click();
    await ben.page.getByRole("heading", { name: "Trip 2027", exact: true }).waitFor();
    await det.getByRole("button", { name: "Make Ben an admin" }).click();
    await det.getByRole("button", { name: "Make Ben a member" }).waitFor();
    await det.getByRole("button", { name: "Remove Cat" }).click();
    await det.getByRole("button", { name: "Remove Cat" }).waitFor({ state: "detached" });
    await p.keyboard.press("Escape");
    // Ben leaves: the group goes from his list.
    await ben.page.getByRole("button", { name: "Details" }).click();
    await ben.page.getByRole("dialog", { name: "Details of Trip 2027" }).getByRole("button", { name: "Leave group" }).click();
    await ben.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Trip/ }).waitFor({ state: "detached" });
    await close(ann, ben, cat);
  },

  // Media: an image arrives as a thumbnail and opens full size; a file
  // downloads with its name and bytes.
  async media(browser) {
    const eve = await person(browser, "eve");
    const fay = await person(browser, "fay");
    await newChat(eve, fay);
    await eve.page.getByLabel("Attach a file").setInputFiles({ name: "photo.png", mimeType: "image/png", buffer: png(800, 600) });
    await openChat(fay, "Eve");
    const open = messages(fay).getByRole("button", { name: "Open image" });
    await open.waitFor();
    const thumb = open.getByRole("img", { name: "Image" });
    await eventually(() => thumb.evaluate((img) => img.complete && img.naturalWidth > 0), "the thumbnail to load");
    const tw = await thumb.evaluate((img) => img.naturalWidth);
    assert(tw <= 320, `the list shows the thumbnail, not the original (width ${tw})`);
    await open.click();
    const full = fay.page.getByRole("dialog", { name: "Image viewer" }).getByRole("img");
    await eventually(() => full.evaluate((img) => img.complete && img.naturalWidth === 800), "the full-size image");
    await fay.page.keyboard.press("Escape");
    await fay.page.getByRole("dialog", { name: "Image viewer" }).waitFor({ state: "detached" });

    const content = `minutes of ${run}\n`;
    await eve.page.getByLabel("Attach a file").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(content) });
    const dl = messages(fay).getByRole("button", { name: "Download notes.txt" });
    await dl.waitFor();
    assert((await message(fay, "notes.txt").innerText()).includes(`${content.length} B`), "the file's size is shown");
    const [download] = await Promise.all([fay.page.waitForEvent("download"), dl.click()]);
    assert(download.suggestedFilename() === "notes.txt", `download name ${download.suggestedFilename()}`);
    const got = await readFile(await download.path(), "utf8");
    assert(got === content, `downloaded ${JSON.stringify(got)}`);
    await close(eve, fay);
  },

  // Reply with a quoted preview, and recall: "This message was deleted" on
  // both sides.
  async replyRecall(browser) {
    const gus = await person(browser, "gus");
    const hal = await person(browser, "hal");
    await newChat(gus, hal);
    await send(gus, "Lunch at noon?");
    await openChat(hal, "Gus");
    const q = message(hal, "Lunch at noon?");
    await q.hover();
    await q.getByRole("button", { name: "Reply" }).click();
    await hal.page.getByRole("button", { name: "Cancel reply" }).waitFor();
    await send(hal, "Yes, see you there");
    const answer = message(gus, "Yes, see you there");
    await answer.waitFor();
    assert((await answer.innerText()).includes("Lunch at noon?"), "the reply quotes the message it answers");
    assert((await hal.page.getByRole("button", { name: "Cancel reply" }).count()) === 0, "the reply preview is cleared");

    await send(gus, "oops, wrong chat");
    await message(hal, "oops, wrong chat").waitFor();
    const mine = message(gus, "oops, wrong chat");
    await mine.hover();
    await mine.getByRole("button", { name: "Delete" }).click();
    for (const p of [gus, hal]) {
      await message(p, "This message was deleted").waitFor();
      await message(p, "oops, wrong chat").waitFor({ state: "detached" });
    }
    await close(gus, hal);
  },

  // The service worker shows a notification for a push, delivered through
  // the browser's own push path (DevTools' deliverPushMessage).
  async push(browser) {
    const kim = await person(browser, "kim", { context: { permissions: ["notifications"] } });
    const page = kim.page;
    await eventually(() => page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration("/"))?.active), "the service worker");
    const cdp = await kim.context.newCDPSession(page);
    const registration = new Promise((resolve) => cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => {
      for (const r of e.registrations) if (!r.isDeleted) resolve(r.registrationId);
    }));
    await cdp.send("ServiceWorker.enable");
    const registrationId = await registration;
    const push = { conversation_id: "42", seq: 7, sender_id: "1", sender_name: "Lea", title: "Book club", preview: "<b>Chapter 3</b> tonight", collapse_key: "conv-42", unread: 2 };
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: new URL(base).origin, registrationId, data: JSON.stringify(push) });
    let shown;
    await eventually(async () => {
      shown = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
      return shown.length > 0;
    }, "a notification");
    assert(shown[0].title === "Lea in Book club" && shown[0].body === "<b>Chapter 3</b> tonight" && shown[0].tag === "conv-42", `notification ${JSON.stringify(shown)}`);
    await close(kim);
  },

  // Friends: a request is declined, another accepted; block and unblock.
  async friends(browser) {
    const pam = await person(browser, "pam");
    const raj = await person(browser, "raj");
    const sue = await person(browser, "sue");
    const ask = async (from, to) => {
      await from.page.getByRole("link", { name: "Friends" }).click();
      await from.page.getByLabel("Add a friend by handle").fill(to.handle);
      await from.page.getByRole("button", { name: "Send request" }).click();
      await from.page.getByRole("button", { name: `Withdraw request to ${to.name}` }).waitFor();
    };
    await ask(raj, pam);
    await ask(sue, pam);
    const p = pam.page;
    await p.getByRole("link", { name: "Friends" }).click();
    await p.getByRole("button", { name: "Decline Sue" }).click();
    await p.getByRole("button", { name: "Accept Raj" }).click();
    await p.getByRole("list", { name: "Friends" }).getByRole("listitem").filter({ hasText: "Raj" }).waitFor();
    await raj.page.getByRole("button", { name: "Unfriend Pam" }).waitFor();
    await sue.page.getByRole("button", { name: "Withdraw request to Pam" }).waitFor({ state: "detached" });
    // Friends see each other online.
    await p.getByRole("button", { name: "Message Raj" }).click();
    await p.getByRole("heading", { name: "Raj", exact: true }).waitFor();
    await p.getByText("online", { exact: true }).waitFor();
    await p.getByRole("link", { name: "Friends" }).click();
    await p.getByRole("button", { name: "Block Raj" }).click();
    await p.getByRole("button", { name: "Unblock Raj" }).click();
    await p.getByRole("button", { name: "Unblock Raj" }).waitFor({ state: "detached" });
    await close(pam, raj, sue);
  },

  // Settings: profile name, bio and picture; the device list, where another
  // device is revoked for real; logging out returns to the login.
  async settings(browser) {
    const tom = await person(browser, "tom");
    const uma = await person(browser, "uma");
    await newChat(uma, tom);
    const p = tom.page;
    await p.getByRole("link", { name: "Settings" }).click();
    await p.getByLabel("Display name").fill("Tom Tailor");
    await p.getByLabel("Bio").fill("Sews <i>things</i>");
    await p.getByRole("button", { name: "Save profile" }).click();
    await p.getByRole("status").filter({ hasText: "Profile saved." }).waitFor();
    await p.getByLabel("Profile picture").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(64, 64) });
    await p.getByRole("status").filter({ hasText: "Picture saved." }).waitFor();
    const previews = p.getByLabel("Show message previews in notifications");
    assert(await previews.isChecked(), "previews are on by default");
    await previews.uncheck();
    await p.getByRole("status").filter({ hasText: "Notification setting saved." }).waitFor();
    await p.reload();
    await p.getByLabel("Display name").waitFor();
    assert(!(await p.getByLabel("Show message previews in notifications").isChecked()), "the previews setting did not persist");
    assert((await p.getByLabel("Display name").inputValue()) === "Tom Tailor", "the display name did not persist");
    await uma.page.reload();
    await uma.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Tom Tailor/ }).click();
    await uma.page.getByRole("button", { name: "Details" }).click();
    await uma.page.getByRole("dialog", { name: "Details of Tom Tailor" }).getByText("Sews <i>things</i>").waitFor();
    await uma.page.keyboard.press("Escape");
    await p.getByRole("button", { name: "Log out" }).click();
    await p.getByRole("button", { name: "Log in" }).waitFor();
    await p.reload();
    await p.getByRole("button", { name: "Log in" }).waitFor();

    // Uma also logs in on a phone; her browser lists both devices, marks
    // itself, and revokes the phone, whose token stops working at once.
    const phone = await apiAs(null, "POST", "/v1/sessions", { handle: uma.handle, password: "correct horse", device_name: "Phone" });
    await apiAs(phone.token, "GET", "/v1/me");
    await uma.page.reload();
    await uma.page.getByRole("link", { name: "Settings" }).click();
    const devices = uma.page.getByRole("list", { name: "Devices" });
    await devices.getByRole("listitem").filter({ hasText: "this device" }).waitFor();
    assert((await devices.getByRole("listitem").count()) === 2, "the device list does not show both devices");
    await devices.getByRole("button", { name: "Revoke Phone" }).click();
    await devices.getByRole("listitem").filter({ hasText: "Phone" }).waitFor({ state: "detached" });
    const after = await fetch(`${base}/v1/me`, { headers: { Authorization: `Bearer ${phone.token}` } });
    assert(after.status === 401, `the revoked phone's token answered ${after.status}`);
    await close(tom, uma);
  },

  // Typing shows in the chat and the list; a draft stays with its
  // conversation; a dropped image is sent; on a phone the list and the
  // chat are two screens.
  async phone(browser) {
    const val = await person(browser, "val", { viewport: phone });
    const wes = await person(browser, "wes");
    const xia = await person(browser, "xia");
    await newChat(wes, val);
    await send(wes, "Hi from Wes");
    await newChat(xia, val);
    await send(xia, "Hi from Xia");
    const p = val.page;
    const list = p.getByRole("list", { name: "Conversations" });
    await list.getByRole("link", { name: /^Wes/ }).waitFor();
    assert(!(await p.getByLabel("Message", { exact: true }).isVisible()), "the composer shows on the list screen");
    await openChat(val, "Wes");
    assert(!(await list.isVisible()), "the list shows beside the chat on a phone");
    await p.getByLabel("Message", { exact: true }).fill("half a thought");
    await p.getByRole("link", { name: "Back to chats" }).click();
    await openChat(val, "Xia");
    assert((await p.getByLabel("Message", { exact: true }).inputValue()) === "", "a draft leaked into another chat");
    await p.getByRole("link", { name: "Back to chats" }).click();
    await openChat(val, "Wes");
    assert((await p.getByLabel("Message", { exact: true }).inputValue()) === "half a thought", "the draft was lost");
    // Wes types: Val sees it in the chat.
    await wes.page.getByLabel("Message", { exact: true }).pressSequentially("hel");
    await p.getByRole("region", { name: "Wes" }).getByText("typing…").waitFor();
    // An image dropped on the chat is sent.
    const data = png(120, 80).toString("base64");
    const dt = await wes.page.evaluateHandle((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes], "drop.png", { type: "image/png" }));
      return d;
    }, data);
    await wes.page.getByLabel("Message", { exact: true }).dispatchEvent("drop", { dataTransfer: dt });
    await messages(val).getByRole("button", { name: "Open image" }).waitFor();
    await close(val, wes, xia);
  },
  // A conversation of 10,000 messages opens at its newest page and scrolls
  // up through history a page at a time, without loading it whole.
  async scroll(browser) {
    const { a, sa, conv } = await (seeding || seedLongConversation());
    const ivy = await login(browser, "Ivy", a);
    await openChat(ivy, "Jon");
    const items = messages(ivy).getByRole("listitem");
    // Seeding was concurrent: the log's order decides which is newest.
    const newest = await apiAs(sa.token, "GET", `/v1/conversation/${conv.id}/details?limit=1`);
    await message(ivy, newest.messages[0].body).waitFor();
    const shown = await items.count();
    assert(shown < 300, `opening showed ${shown} items: the conversation was loaded whole`);
    // Jumping to the top (Home) fetches one older page, not the whole
    // history: the view stays on the message it showed.
    const history = ivy.page.getByRole("region", { name: "Message history" });
    await history.press("Home");
    await ivy.page.getByText("Loading earlier messages…").waitFor({ state: "detached" });
    await eventually(async () => (await items.count()) > shown, "an older page");
    assert((await ivy.page.getByText("Start of the conversation").count()) === 0, "Home ran to the start of the history");
    assert((await items.count()) <= 320, `Home loaded ${await items.count()} items`);
    const target = (await apiAs(sa.token, "GET", `/v1/conversation/${conv.id}/details?limit=1&before_seq=${newest.messages[0].seq - 450}`)).messages[0].body;
    await messages(ivy).hover();
    await eventually(async () => {
      await ivy.page.mouse.wheel(0, -4000);
      return (await message(ivy, new RegExp(`^${target}\\b`)).count()) > 0 || (await message(ivy, target).count()) > 0;
    }, `scrolling up to ${target}`, 60000).catch(async (e) => {
      const items2 = await messages(ivy).getByRole("listitem").allInnerTexts();
      const box = await messages(ivy).evaluate((el) => [el.parentElement.scrollTop, el.parentElement.scrollHeight, el.parentElement.clientHeight]);
      throw new Error(`${e.message}; ${items2.length} items from ${JSON.stringify(items2[0])}, ${JSON.stringify(items2[1])} to ${JSON.stringify(items2[items2.length - 1])}; scroll ${box}`);
    });
    assert((await message(ivy, "Start of the conversation").count()) === 0 && (await ivy.page.getByText("Start of the conversation").count()) === 0, "scrolling up 450 messages ran to the start of the history");
    const loaded = await items.count();
    assert(loaded < 450, `${loaded} items in the page after scrolling up 450 messages: the list is not windowed`);
    // Back down to the newest: the window slides back, and what is shown
    // is the log's tail, in order, with no hole.
    await eventually(async () => {
      await ivy.page.mouse.wheel(0, 4000);
      return (await message(ivy, newest.messages[0].body).count()) > 0 && (await message(ivy, target).count()) === 0;
    }, "scrolling back down to the newest", 60000);
    const bodies = await messages(ivy).getByRole("listitem").filter({ hasText: "message " }).allInnerTexts();
    const log = await apiAs(sa.token, "GET", `/v1/conversation/${conv.id}/details?limit=200`);
    const want = log.messages.map((m) => m.body);
    const got = bodies.map((x) => x.split("\n")[0]).slice(-200);
    assert(JSON.stringify(got) === JSON.stringify(want), "the newest 200 differ from the log's");
    assert((await items.count()) < 450, "the window grew on the way down");
    await close(ivy);
  },

  // What people expect next: an edit and a reaction seen by the other
  // side, a forward into another chat, search, pin and archive, and a
  // disappearing-messages timer that takes messages away on both sides.
  async features(browser) {
    const lea = await person(browser, "lea");
    const ned = await person(browser, "ned");
    const zoe = await person(browser, "zoe");
    await newChat(lea, zoe);
    await send(lea, "Hi Zoe");
    await newChat(lea, ned);
    await send(lea, "Lunch at noon?");
    await openChat(ned, "Lea");
    await message(ned, "Lunch at noon?").waitFor();

    // Edit: both sides show the new text, marked edited.
    await message(lea, "Lunch at noon?").hover();
    await message(lea, "Lunch at noon?").getByRole("button", { name: "Edit" }).click();
    const ed = lea.page.getByRole("dialog", { name: "Edit message" });
    await ed.getByLabel("Message").fill("Lunch at one?");
    await ed.getByRole("button", { name: "Save" }).click();
    for (const p of [lea, ned]) await message(p, "Lunch at one?").filter({ hasText: "edited" }).waitFor();
    assert((await message(ned, "Lunch at noon?").count()) === 0, "the old text still shows");

    // Reactions: Ned's 👍 shows on Lea's side; pressing it again takes it back.
    await message(ned, "Lunch at one?").hover();
    await message(ned, "Lunch at one?").getByRole("button", { name: "React", exact: true }).click();
    await ned.page.getByRole("dialog", { name: "React" }).getByRole("button", { name: "React with 👍" }).click();
    await message(lea, "Lunch at one?").getByRole("button", { name: "👍 1" }).waitFor();
    await message(ned, "Lunch at one?").getByRole("button", { name: "👍 1" }).click();
    await eventually(async () => (await message(lea, "Lunch at one?").getByRole("group", { name: "Reactions" }).count()) === 0, "the reaction to be taken back");

    // Forward into the chat with Zoe.
    await message(lea, "Lunch at one?").hover();
    await message(lea, "Lunch at one?").getByRole("button", { name: "Forward" }).click();
    await lea.page.getByRole("dialog", { name: "Forward message" }).getByRole("button", { name: "Forward to Zoe" }).click();
    await lea.page.getByRole("heading", { name: "Zoe", exact: true }).waitFor();
    await openChat(zoe, "Lea");
    await message(zoe, "Lunch at one?").filter({ hasText: "Forwarded" }).waitFor();

    // Pin and archive: the pinned chat leads the list; the archived one
    // hides until asked for, and comes back with a new message.
    const rows = lea.page.getByRole("list", { name: "Conversations" }).getByRole("link");
    await openChat(lea, "Ned");
    await lea.page.getByRole("button", { name: "Details" }).click();
    await lea.page.getByRole("dialog").getByRole("button", { name: "Pin chat" }).click();
    await lea.page.getByRole("dialog").getByRole("button", { name: "Unpin chat" }).waitFor();
    await lea.page.keyboard.press("Escape");
    await eventually(async () => /^Ned, pinned/.test(await rows.first().getAttribute("aria-label")), "the pinned chat first");
    await openChat(lea, "Zoe");
    await lea.page.getByRole("button", { name: "Details" }).click();
    await lea.page.getByRole("dialog").getByRole("button", { name: "Archive chat" }).click();
    await lea.page.getByRole("dialog").getByRole("button", { name: "Unarchive chat" }).waitFor();
    await lea.page.keyboard.press("Escape");
    await eventually(async () => (await rows.filter({ hasText: "Zoe" }).count()) === 0, "the archived chat to leave the list");
    await lea.page.getByRole("button", { name: "Archived chats (1)" }).click();
    await rows.filter({ hasText: "Zoe" }).waitFor();
    await lea.page.getByRole("button", { name: "Back to chats" }).click();
    await send(zoe, "Still on?");
    await rows.filter({ hasText: "Zoe" }).waitFor();

    // Disappearing messages: a timer of 30 seconds, announced in the chat;
    // a message sent under it goes from both sides.
    await openChat(lea, "Ned");
    await lea.page.getByRole("button", { name: "Details" }).click();
    await lea.page.getByRole("dialog").getByLabel("Disappearing messages").selectOption("30");
    await lea.page.getByRole("dialog").getByRole("button", { name: "Set timer" }).click();
    await lea.page.keyboard.press("Escape");
    await messages(ned).getByText("Lea set disappearing messages to 30 seconds").waitFor();
    await send(lea, "This will vanish");
    await message(ned, "This will vanish").getByRole("img", { name: "Disappears" }).waitFor();
    for (const p of [lea, ned]) {
      await eventually(async () => (await message(p, "This will vanish").count()) === 0, `${p.name}: the message to disappear`, 45000);
    }
    assert((await message(ned, "Lunch at one?").count()) === 1, "a message from before the timer stays");
    // Search by a prefix finds the edited text and opens its chat.
    await ned.page.getByRole("button", { name: "Search messages" }).click();
    const sd = ned.page.getByRole("dialog", { name: "Search messages" });
    await sd.getByLabel(/Words/).fill("lun");
    const hit = sd.getByRole("list", { name: "Search results" }).getByRole("button").filter({ hasText: "Lea" });
    await hit.waitFor();
    assert((await hit.count()) === 1, "search found the message once");
    assert((await hit.innerText()).includes("one"), `the result shows the edited text: ${await hit.innerText()}`);
    await sd.getByLabel(/Words/).fill("noon");
    await sd.getByText("Nothing found.").waitFor();
    await sd.getByRole("button", { name: "Close" }).click();

    await close(lea, ned, zoe);
  },

  // The README's screenshots: login, list and chat, desktop and phone.
  async screenshots(browser) {
    const dir = process.env.PARLEY_SCREENSHOTS;
    if (!dir) return;
    const shot = (p, name) => p.screenshot({ path: join(dir, `${name}.png`) });
    const anon = await browser.newContext({ viewport: desktop });
    const lp = await anon.newPage();
    await lp.goto(base);
    await lp.getByRole("button", { name: "Log in" }).waitFor();
    await shot(lp, "login-desktop");
    await lp.setViewportSize(phone);
    await shot(lp, "login-phone");
    await anon.close();

    const maya = await person(browser, "maya", { displayName: "Maya Lind" });
    const noah = await person(browser, "noah", { displayName: "Noah Berg" });
    const omar = await person(browser, "omar", { displayName: "Omar Haddad" });
    await omar.page.getByRole("button", { name: "New chat" }).click();
    const dlg = omar.page.getByRole("dialog", { name: "New chat" });
    await dlg.getByLabel("Group title").fill("Hiking club");
    await dlg.getByLabel("Members (handles, separated by commas)").fill(`${maya.handle}, ${noah.handle}`);
    await dlg.getByRole("button", { name: "Create group" }).click();
    await omar.page.getByRole("heading", { name: "Hiking club", exact: true }).waitFor();
    await send(omar, "Are we still on for Saturday? Forecast says sun.");
    await newChat(omar, maya);
    await send(omar, "Can I borrow your map?");
    await newChat(noah, maya);
    await send(noah, "Hi Maya! Did you get the photos from the hike?");
    await openChat(maya, "Noah Berg");
    await send(maya, "Yes — they're great. The one at the ridge is my favourite.");
    await message(noah, "my favourite").waitFor();
    await send(noah, "Sending the route for next time: https://example.com/trails/ridge-loop");
    await noah.page.getByLabel("Attach a file").setInputFiles({ name: "ridge.png", mimeType: "image/png", buffer: png(640, 420) });
    await messages(maya).getByRole("button", { name: "Open image" }).getByRole("img").waitFor();
    await eventually(() => messages(maya).getByRole("button", { name: "Open image" }).getByRole("img").evaluate((i) => i.complete && i.naturalWidth > 0), "the thumbnail");
    await send(maya, "Perfect, thanks!");
    await message(maya, "Perfect, thanks!").getByRole("img", { name: "Read" }).waitFor();
    await maya.page.mouse.move(0, 0);
    await maya.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Omar Haddad, online/ }).waitFor();
    await shot(maya.page, "chat-desktop");
    await maya.page.emulateMedia({ colorScheme: "dark" });
    await shot(maya.page, "chat-desktop-dark");
    await maya.page.emulateMedia({ colorScheme: "light" });
    await maya.page.setViewportSize(phone);
    await shot(maya.page, "chat-phone");
    await maya.page.getByRole("link", { name: "Back to chats" }).click();
    await maya.page.getByRole("list", { name: "Conversations" }).waitFor();
    await shot(maya.page, "list-phone");
    await maya.page.setViewportSize(desktop);
    await shot(maya.page, "list-desktop");
    await close(maya, noah, omar);
  },
};
