// The conversation list: newest activity first, filter by name, unread
// badges, online dots and typing hints, updated live from the state.
import { h, shortTime } from "../dom.js";
import { state, changed, convTitle, userName, timerLabel } from "../store.js";
import { avatar } from "./avatar.js";
import { searchDialog } from "./search.js";

let showArchived = false;

export function listView(actions) {
  const filter = h("input", {
    id: "conv-filter", type: "search", placeholder: "Search chats",
    oninput: () => { state.filter = filter.value; changed(); },
  });
  const ul = h("ul", { class: "conv-list", "aria-label": "Conversations" });
  const empty = h("p", { class: "empty" });
  const rows = new Map(); // conversation id -> {li, sig}
  const root = h("section", { class: "sidebar", "aria-label": "Chats" },
    h("div", { class: "sidebar-head" },
      h("label", { for: "conv-filter", class: "sr-only" }, "Filter conversations"), filter,
      h("button", { type: "button", onclick: actions.newChat, "aria-haspopup": "dialog" }, "New chat"),
      h("button", { type: "button", onclick: searchDialog, "aria-haspopup": "dialog" }, "Search messages")),
    ul, empty, h("p", { class: "archived-toggle" }));
  const toggle = root.lastChild;

  function render() {
    const q = state.filter.trim().toLowerCase();
    const all = [...state.convs.values()]
      .filter((c) => c.view && c.view.active !== false)
      .filter((c) => !q || convTitle(c).toLowerCase().includes(q));
    const archived = all.filter((c) => c.view.archived).length;
    // Pinned first, most recently pinned on top; then newest activity.
    // Archived chats show only when asked for.
    const items = all
      .filter((c) => !c.view.archived === !showArchived)
      .sort((a, b) => (b.view.pinned ? 1 : 0) - (a.view.pinned ? 1 : 0)
        || String(b.view.pinned_at || "").localeCompare(String(a.view.pinned_at || ""))
        || String(b.view.last_activity_at || "").localeCompare(String(a.view.last_activity_at || "")));
    // Rows are rebuilt only when what they show changed, and reordered in
    // place, so keyboard focus and the screen reader's position survive
    // live updates.
    const keep = new Set();
    let prev = null;
    for (const c of items) {
      const { sig, build } = item(c);
      keep.add(c.id);
      let row = rows.get(c.id);
      if (!row || row.sig !== sig) {
        const li = build();
        if (row) {
          const focused = row.li.contains(document.activeElement);
          row.li.replaceWith(li);
          if (focused) li.querySelector("a").focus();
        }
        row = { li, sig };
        rows.set(c.id, row);
      }
      const want = prev ? prev.nextSibling : ul.firstChild;
      if (want !== row.li) ul.insertBefore(row.li, want);
      prev = row.li;
    }
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.li.remove();
        rows.delete(id);
      }
    }
    empty.textContent = items.length ? "" : showArchived ? "No archived chats." : q ? "No chat matches." : "No chats yet. Start one with “New chat”.";
    const want = showArchived ? "Back to chats" : archived ? `Archived chats (${archived})` : "";
    if (toggle.dataset.label !== want) {
      toggle.dataset.label = want;
      toggle.replaceChildren(want ? h("button", { type: "button", class: "link", onclick: () => { showArchived = !showArchived; changed(); } }, want) : "");
    }
  }

  function item(c) {
    const v = c.view;
    const title = convTitle(c);
    const online = v.type === "direct" && state.presence.get(String(v.recipient_id));
    const now = Date.now();
    const typers = [...c.typing].filter(([, until]) => until > now).map(([id]) => userName(id));
    const m = v.latest_message;
    let preview = "";
    if (m) {
      const who = m.type === "setting" ? "" : String(m.sender_id) === String(state.me.id) ? "You: " : v.type === "group" ? `${userName(m.sender_id)}: ` : "";
      preview = who + previewText(m);
    }
    const hint = typers.length ? (v.type === "group" ? `${typers.join(", ")} typing…` : "typing…") : preview;
    const unread = v.unread_count || 0;
    const label = [title, v.pinned ? "pinned" : "", online ? "online" : "", unread ? `${unread} unread` : "", typers.length ? "typing" : ""].filter(Boolean).join(", ");
    const selected = state.route.view === "chat" && state.route.id === c.id;
    const time = shortTime(v.last_activity_at);
    const pic = v.type === "direct" ? v.recipient_profile_pic : "";
    const sig = JSON.stringify([v.pinned, label, title, hint, unread, selected, time, pic, online, typers.length > 0]);
    return { sig, build: () => h("li", null,
      h("a", { href: `#/c/${c.id}`, class: selected ? "conv selected" : "conv", "aria-label": label, "aria-current": selected ? "page" : null },
        avatar(title, pic, online),
        h("span", { class: "conv-main" },
          h("span", { class: "conv-top" }, h("span", { class: "conv-title" }, v.pinned ? h("span", { class: "pin", "aria-hidden": "true" }, "📌 ") : null, title), h("time", { class: "conv-time" }, time)),
          h("span", { class: "conv-bottom" },
            h("span", { class: typers.length ? "conv-preview typing" : "conv-preview" }, hint),
            unread ? h("span", { class: "badge" }, String(unread)) : null)))) };
  }

  return { root, render };
}

export function previewText(m) {
  if (m.type === "setting") return settingText(m);
  if (m.recalled_at) return "This message was deleted";
  if (m.type === "reaction") return m.body ? `Reacted ${m.body}` : "Removed a reaction";
  if (m.type === "image") return m.body ? `Photo: ${m.body}` : "Photo";
  if (m.type === "file") return `File: ${(m.media && m.media.filename) || m.body || "file"}`;
  return m.body || "";
}

// settingText tells who changed the disappearing-messages timer, and to what.
export function settingText(m) {
  const who = String(m.sender_id) === String(state.me.id) ? "You" : userName(m.sender_id);
  return m.disappear_after ? `${who} set disappearing messages to ${timerLabel(m.disappear_after)}` : `${who} turned off disappearing messages`;
}
