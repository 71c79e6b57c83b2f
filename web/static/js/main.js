// The web client's entry point: the session, the hash routes (#/, #/c/<id>,
// #/friends, #/settings), the layout, and one render per frame from the
// single state object.
import { h } from "./dom.js";
import { get, del, setUnauthorizedHandler, forgetMedia } from "./api.js";
import { state, subscribe, changed, conv, reset, unreadTotal, loadQueue, sweepExpired } from "./store.js";
import * as rt from "./realtime.js";
import { loginView } from "./views/login.js";
import { listView } from "./views/list.js";
import { chatView } from "./views/chat.js";
import { newChatDialog } from "./views/conversation.js";
import { friendsView, loadFriends } from "./views/friends.js";
import { settingsView, detectSessions, subscribePush } from "./views/settings.js";

// The one Trusted Types policy: it admits the service worker's fixed URL
// and nothing else. There is no policy that turns a string into HTML.
const policy = window.trustedTypes
  ? window.trustedTypes.createPolicy("parley", {
    createScriptURL(u) {
      if (u === "/sw.js") return u;
      throw new TypeError(`script URL not allowed: ${u}`);
    },
  })
  : { createScriptURL: (u) => u };

const app = document.getElementById("app");
let swReady = null;

function parseRoute() {
  const p = location.hash.replace(/^#\/?/, "").split("/");
  if (p[0] === "c" && p[1]) return { view: "chat", id: decodeURIComponent(p[1]) };
  if (p[0] === "friends") return { view: "friends", id: null };
  if (p[0] === "settings") return { view: "settings", id: null };
  return { view: "list", id: null };
}

addEventListener("hashchange", () => {
  state.route = parseRoute();
  state.notice = "";
  if (state.route.view === "friends" && state.me) loadFriends().catch(() => {});
  changed();
});
// Disappearing messages go at their expires_at, wherever they are shown.
setInterval(() => {
  if (sweepExpired()) changed();
}, 1000);
document.addEventListener("visibilitychange", () => {
  if (state.route.view === "chat" && state.me) rt.markRead(conv(state.route.id));
  changed();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !document.querySelector("dialog[open]") && state.route.view !== "list" && window.matchMedia("(max-width: 720px)").matches) {
    location.hash = "#/";
  }
});

setUnauthorizedHandler(() => logout(false));

async function logout(tellServer = true) {
  if (tellServer && state.token) await del("/v1/sessions/current").catch(() => {});
  rt.disconnect();
  forgetMedia();
  reset();
  shell = null;
  location.hash = "#/";
  renderRoot();
}

// The signed-in layout, built once per session.
let shell = null;

function buildShell() {
  const banner = h("div", { class: "banner", role: "status", "aria-live": "polite" });
  const notice = h("div", { class: "notice", role: "alert" });
  const list = listView({ newChat: newChatDialog });
  const chat = chatView();
  const friends = friendsView();
  const settings = settingsView({ logout: () => logout(true), swRegistration: () => swReady });
  const empty = h("section", { class: "placeholder", "aria-label": "No chat open" }, h("p", null, "Choose a chat, or start one with “New chat”."));
  const pane = h("div", { class: "pane" });
  const navLink = (href, text) => h("a", { href }, text);
  const nav = h("nav", { class: "nav", "aria-label": "Main" }, navLink("#/", "Chats"), navLink("#/friends", "Friends"), navLink("#/settings", "Settings"));
  const root = h("div", { class: "shell" }, banner, notice, h("div", { class: "columns" }, h("div", { class: "left" }, nav, list.root), pane));
  let paneView = null;
  return {
    root,
    render() {
      banner.textContent = state.connection === "online" ? "" : state.connection === "offline" ? "Offline — messages you write will be sent when you are back online." : "Connecting…";
      banner.hidden = state.connection === "online";
      notice.textContent = state.notice;
      notice.hidden = !state.notice;
      for (const a of nav.querySelectorAll("a")) {
        const r = a.getAttribute("href");
        const on = (r === "#/" && (state.route.view === "list" || state.route.view === "chat")) || r === `#/${state.route.view}`;
        if (on) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      list.render();
      const want = state.route.view === "chat" ? chat : state.route.view === "friends" ? friends : state.route.view === "settings" ? settings : null;
      if (want !== paneView) {
        pane.replaceChildren(want ? want.root : empty);
        paneView = want;
      }
      if (want) want.render();
      document.body.classList.toggle("pane-open", !!want);
      const n = unreadTotal();
      document.title = n ? `(${n}) Parley` : "Parley";
    },
  };
}

function renderRoot() {
  if (!state.token || !state.me) {
    document.title = "Parley";
    document.body.classList.remove("pane-open");
    if (!app.querySelector(".login")) app.replaceChildren(loginView(onSession));
    return;
  }
  if (!shell) {
    shell = buildShell();
    app.replaceChildren(shell.root);
  }
  shell.render();
}

subscribe(renderRoot);

function onSession(s) {
  state.token = s.token;
  state.me = s.user;
  state.deviceId = s.device_id;
  localStorage.setItem("parley.token", s.token);
  start();
}

async function start() {
  state.users.set(String(state.me.id), state.me);
  state.route = parseRoute();
  loadQueue();
  changed();
  rt.connect({ onLoggedOut: () => logout(false), onFriends: friendsChanged });
  rt.refreshConversations().catch(() => {});
  friendsChanged();
  detectSessions();
  registerServiceWorker();
  // Permission given earlier (on a click in Settings): keep this device
  // subscribed without asking again.
  if ("Notification" in window && Notification.permission === "granted" && swReady) subscribePush(swReady).catch(() => {});
}

// friendsChanged reloads the friend list; a new friend's presence becomes
// visible, so it is asked for again.
function friendsChanged() {
  loadFriends().then(() => rt.loadPresence(state.friends.filter((f) => f.state === "friends").map((f) => f.user_id), true)).catch(() => {});
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || swReady) return;
  swReady = navigator.serviceWorker.register(policy.createScriptURL("/sw.js"), { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    .catch(() => null);
  navigator.serviceWorker.addEventListener("message", (e) => {
    if (e.data && e.data.type === "open" && e.data.conversation_id) location.hash = `#/c/${e.data.conversation_id}`;
  });
}

async function boot() {
  state.route = parseRoute();
  if (state.token) {
    try {
      state.me = await get("/v1/me");
      start();
      return;
    } catch (e) {
      if (e.status === 401) reset();
      else if (e.code === "network") {
        // Offline at start: keep the session and try again when back.
        addEventListener("online", boot, { once: true });
      }
    }
  }
  changed();
}

boot();
