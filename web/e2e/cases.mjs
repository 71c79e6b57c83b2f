// The cases, each a person-level story.
import { person, newChat, openChat, send, message, messages, texts, assert, eventually } from "./lib.mjs";

async function close(...people) {
  for (const p of people) await p.context.close();
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
    const conv = bob.page.getByRole("list", { name: "Conversations" }).getByRole("link", { name: /^Alice, 1 unread/ });
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
    await close(alice, bob);
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
    await close(alice, bob);
  },
};
