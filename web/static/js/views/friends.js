// The friends page: requests in and out, friends, blocked users.
import { h } from "../dom.js";
import { get, post, del } from "../api.js";
import { state, changed, setConversation } from "../store.js";

export async function loadFriends() {
  const [f, b] = await Promise.all([get("/v1/friends"), get("/v1/blocks")]);
  state.friends = f.friends;
  const users = await Promise.all(b.user_ids.map((id) => get(`/v1/users/${id}`).catch(() => ({ id, handle: String(id) }))));
  state.blocks = users;
  for (const e of f.friends) if (e.user) state.users.set(String(e.user_id), e.user);
  changed();
}

export function friendsView() {
  const handle = h("input", { id: "fr-handle", autocomplete: "off", spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div");
  const act = (fn) => async () => {
    error.textContent = "";
    try {
      await fn();
      await loadFriends();
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const root = h("section", { class: "page", "aria-labelledby": "friends-title" },
    h("header", { class: "page-head" }, h("a", { href: "#/", class: "back", "aria-label": "Back to chats" }, "‹"), h("h2", { id: "friends-title" }, "Friends")),
    h("form", {
      class: "inline",
      onsubmit: (e) => {
        e.preventDefault();
        act(async () => {
          const hd = handle.value.trim().replace(/^@/, "");
          const r = await get(`/v1/users?handle=${encodeURIComponent(hd)}&limit=20`);
          const u = r.users.find((x) => x.handle.toLowerCase() === hd.toLowerCase());
          if (!u) throw new Error(`No user @${hd}.`);
          await post("/v1/friends", { user_id: String(u.id) });
          handle.value = "";
        })();
      },
    }, h("label", { for: "fr-handle" }, "Add a friend by handle"), handle, h("button", { type: "submit", class: "primary" }, "Send request")),
    error, body);

  function section(title, entries, buttons) {
    if (!entries.length) return null;
    return h("section", { "aria-label": title }, h("h3", null, title),
      h("ul", { class: "people", "aria-label": title }, ...entries.map((e) => {
        const u = e.user || e;
        const name = u.display_name || u.handle;
        return h("li", null, h("span", null, name, h("span", { class: "handle" }, ` @${u.handle}`)), ...buttons(String(u.id), name));
      })));
  }

  let shownFriends = null;
  let shownBlocks = null;
  function render() {
    // Rebuilt only when the lists changed, so focus survives other updates.
    if (shownFriends === state.friends && shownBlocks === state.blocks) return;
    shownFriends = state.friends;
    shownBlocks = state.blocks;
    const by = (s) => state.friends.filter((e) => e.state === s);
    body.replaceChildren(
      section("Requests", by("incoming"), (id, name) => [
        h("button", { type: "button", class: "primary", onclick: act(() => post(`/v1/friends/${id}/accept`)) }, `Accept ${name}`),
        h("button", { type: "button", onclick: act(() => del(`/v1/friends/${id}`)) }, `Decline ${name}`)]),
      section("Sent requests", by("outgoing"), (id, name) => [
        h("button", { type: "button", onclick: act(() => del(`/v1/friends/${id}`)) }, `Withdraw request to ${name}`)]),
      section("Friends", by("friends"), (id, name) => [
        h("button", { type: "button", onclick: async () => { const v = await post("/v1/conversation", { member_ids: [id] }); setConversation(v); location.hash = `#/c/${v.id}`; } }, `Message ${name}`),
        h("button", { type: "button", onclick: act(() => del(`/v1/friends/${id}`)) }, `Unfriend ${name}`),
        h("button", { type: "button", class: "danger", onclick: act(() => post(`/v1/friends/${id}/block`)) }, `Block ${name}`)]),
      section("Blocked", state.blocks, (id, name) => [
        h("button", { type: "button", onclick: act(() => del(`/v1/friends/${id}/block`)) }, `Unblock ${name}`)]),
      state.friends.length || state.blocks.length ? null : h("p", { class: "empty" }, "No friends yet."));
  }
  return { root, render };
}
