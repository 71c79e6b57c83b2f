// Starting conversations (a 1:1 found by handle, or a group) and a
// conversation's details: rename, members and roles, leave.
import { h } from "../dom.js";
import { get, post, patch, put, del } from "../api.js";
import { state, changed, setConversation, convTitle, userName, timerLabel } from "../store.js";
import { openDialog } from "./dialog.js";

async function findUser(handle) {
  const hd = handle.trim().replace(/^@/, "");
  const r = await get(`/v1/users?handle=${encodeURIComponent(hd)}&limit=20`);
  const u = r.users.find((x) => x.handle.toLowerCase() === hd.toLowerCase());
  if (!u) throw new Error(`No user @${hd}.`);
  return u;
}

function remember(u) {
  state.users.set(String(u.id), u);
}

export function newChatDialog() {
  const search = h("input", { id: "nc-search", type: "search", autocomplete: "off", spellcheck: "false" });
  const results = h("ul", { class: "results", "aria-label": "People" });
  const error = h("p", { class: "error", role: "alert" });
  const gTitle = h("input", { id: "nc-title" });
  const gMembers = h("input", { id: "nc-members", placeholder: "alice, bob" });
  let dlg;
  let seq = 0;

  search.addEventListener("input", async () => {
    const q = search.value.trim().replace(/^@/, "");
    const mine = ++seq;
    if (q.length < 1) { results.replaceChildren(); return; }
    try {
      const r = await get(`/v1/users?handle=${encodeURIComponent(q)}&limit=10`);
      if (mine !== seq) return;
      results.replaceChildren(...r.users.filter((u) => String(u.id) !== String(state.me.id)).map((u) => {
        remember(u);
        const name = u.display_name || u.handle;
        return h("li", null, h("button", { type: "button", onclick: () => open1to1(u) }, `Chat with ${name} (@${u.handle})`));
      }));
    } catch (e) {
      error.textContent = e.message;
    }
  });

  async function open1to1(u) {
    try {
      const v = await post("/v1/conversation", { member_ids: [String(u.id)] });
      setConversation(v);
      dlg.close();
      location.hash = `#/c/${v.id}`;
      changed();
    } catch (e) {
      error.textContent = e.message;
    }
  }

  async function createGroup(e) {
    e.preventDefault();
    error.textContent = "";
    try {
      const handles = gMembers.value.split(/[\s,]+/).filter(Boolean);
      const users = await Promise.all(handles.map(findUser));
      users.forEach(remember);
      const v = await post("/v1/conversation", { member_ids: users.map((u) => String(u.id)), title: gTitle.value.trim() });
      setConversation(v);
      dlg.close();
      location.hash = `#/c/${v.id}`;
      changed();
    } catch (err) {
      error.textContent = err.message;
    }
  }

  dlg = openDialog("New chat",
    h("label", { for: "nc-search" }, "Search by handle"), search, results,
    h("form", { class: "group-form", onsubmit: createGroup, "aria-label": "New group" },
      h("h3", null, "New group"),
      h("label", { for: "nc-title" }, "Group title"), gTitle,
      h("label", { for: "nc-members" }, "Members (handles, separated by commas)"), gMembers,
      h("button", { type: "submit", class: "primary" }, "Create group")),
    error);
  search.focus();
}

// The disappearing-messages timers offered, in seconds (0: off).
const TIMERS = [0, 30, 300, 3600, 86400, 7 * 86400, 90 * 86400];

// timerForm sets the conversation's disappearing-messages timer; who may
// is the server's to say (either member of a 1:1, a group's admins).
function timerForm(c, act) {
  const now = c.view.disappear_after || 0;
  const sel = h("select", { id: "cd-timer" }, ...[...new Set([...TIMERS, now])].sort((a, b) => a - b).map((s) =>
    h("option", { value: String(s), selected: s === now }, s ? timerLabel(s) : "Off")));
  return h("form", { onsubmit: (e) => { e.preventDefault(); act(() => patch(`/v1/conversation/${c.id}`, { disappear_after: Number(sel.value) }))(); } },
    h("label", { for: "cd-timer" }, "Disappearing messages"), sel, h("button", { type: "submit" }, "Set timer"));
}

// listControls are the user's own settings of the chat: pinned to the top
// of the list, archived out of it.
function listControls(c, act) {
  const cv = c.view;
  return h("div", { class: "chat-controls" },
    h("button", { type: "button", onclick: act(() => put(`/v1/conversation/${c.id}/pin`, { pinned: !cv.pinned })) }, cv.pinned ? "Unpin chat" : "Pin chat"),
    h("button", { type: "button", onclick: act(() => put(`/v1/conversation/${c.id}/archive`, { archived: !cv.archived })) }, cv.archived ? "Unarchive chat" : "Archive chat"));
}

export function detailsDialog(c) {
  const v = c.view;
  if (!v) return;
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div");
  const me = String(state.me.id);
  const act = (fn) => async () => {
    error.textContent = "";
    try {
      const r = await fn();
      if (r && r.id) setConversation(r);
      else setConversation(await get(`/v1/conversation/${c.id}`));
      changed();
      fill();
    } catch (e) {
      error.textContent = e.message;
    }
  };

  function fill() {
    const cv = c.view;
    const myRole = cv.role;
    const admin = myRole === "owner" || myRole === "admin";
    if (cv.type === "direct") {
      const about = h("p", { class: "bio" });
      const handle = h("p", { class: "handle" });
      get(`/v1/users/${cv.recipient_id}`).then((u) => {
        handle.textContent = `@${u.handle}`;
        about.textContent = u.bio || "";
      }, () => {});
      body.replaceChildren(h("p", null, `A private chat with ${convTitle(c)}.`), handle, about, listControls(c, act), timerForm(c, act),
        h("button", { type: "button", onclick: act(async () => { await post(`/v1/friends/${cv.recipient_id}/block`); state.notice = `${convTitle(c)} is blocked.`; return null; }) }, `Block ${convTitle(c)}`));
      return;
    }
    const title = h("input", { id: "cd-title", value: cv.title });
    const addInput = h("input", { id: "cd-add", placeholder: "handle" });
    body.replaceChildren(
      admin ? h("form", { onsubmit: (e) => { e.preventDefault(); act(() => patch(`/v1/conversation/${c.id}`, { title: title.value.trim() }))(); } },
        h("label", { for: "cd-title" }, "Group title"), title, h("button", { type: "submit" }, "Rename")) : h("p", null, cv.title),
      listControls(c, act),
      admin ? timerForm(c, act) : h("p", null, `Disappearing messages: ${timerLabel(cv.disappear_after || 0)}`),
      h("h3", null, "Members"),
      h("ul", { class: "members", "aria-label": "Members" }, ...(cv.members || []).map((m) => {
        const name = m.display_name || m.handle || userName(m.user_id);
        const id = String(m.user_id);
        const li = h("li", null, h("span", null, id === me ? `${name} (you)` : name), h("span", { class: "role" }, m.role));
        if (myRole === "owner" && id !== me) {
          li.append(m.role === "admin"
            ? h("button", { type: "button", onclick: act(() => patch(`/v1/conversation/${c.id}/members/${id}`, { role: "member" })) }, `Make ${name} a member`)
            : h("button", { type: "button", onclick: act(() => patch(`/v1/conversation/${c.id}/members/${id}`, { role: "admin" })) }, `Make ${name} an admin`));
        }
        if (admin && id !== me && m.role !== "owner" && (myRole === "owner" || m.role !== "admin")) {
          li.append(h("button", { type: "button", onclick: act(() => del(`/v1/conversation/${c.id}/members/${id}`)) }, `Remove ${name}`));
        }
        return li;
      })),
      admin ? h("form", { onsubmit: (e) => { e.preventDefault(); act(async () => { const u = await findUser(addInput.value); return post(`/v1/conversation/${c.id}/members`, { user_ids: [String(u.id)] }); })(); } },
        h("label", { for: "cd-add" }, "Add a member by handle"), addInput, h("button", { type: "submit" }, "Add")) : null,
      h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          try {
            await del(`/v1/conversation/${c.id}/members/${me}`);
            c.view.active = false;
            dlg.close();
            location.hash = "#/";
            changed();
          } catch (e) {
            error.textContent = e.message;
          }
        },
      }, "Leave group"));
  }
  fill();
  const dlg = openDialog(`Details of ${convTitle(c)}`, body, error);
}
