// Settings: profile (display name, picture, bio), notifications (push
// previews, Web Push on this browser), devices (only when the server has
// the session list), log out.
import { h } from "../dom.js";
import { api, get, patch, post, upload } from "../api.js";
import { state, changed } from "../store.js";
import { avatar } from "./avatar.js";

// Whether the server lists sessions: a 404 hides the devices section.
export async function detectSessions() {
  try {
    const r = await get("/v1/sessions");
    state.sessionsSupported = true;
    state.sessions = r.sessions || r.devices || [];
  } catch {
    state.sessionsSupported = false;
  }
  changed();
}

export function settingsView({ logout, swRegistration }) {
  const name = h("input", { id: "st-name", autocomplete: "name" });
  const bio = h("textarea", { id: "st-bio", rows: 3, maxlength: 500 });
  const pic = h("input", { id: "st-pic", type: "file", accept: "image/png,image/jpeg,image/gif" });
  const previews = h("input", { id: "st-previews", type: "checkbox" });
  const status = h("p", { class: "status", role: "status" });
  const picBox = h("span");
  const devices = h("section", { "aria-labelledby": "st-devices" });
  let filled = null;
  let shownSessions = null;

  const save = async (body, what) => {
    try {
      state.me = { ...state.me, ...(await patch("/v1/me", body)) };
      state.users.set(String(state.me.id), state.me);
      status.textContent = `${what} saved.`;
      changed();
    } catch (e) {
      status.textContent = e.message;
    }
  };

  pic.addEventListener("change", async () => {
    const f = pic.files[0];
    if (!f) return;
    try {
      const m = await upload(f);
      await save({ profile_pic: `/v1/media/${m.id}` }, "Picture");
    } catch (e) {
      status.textContent = e.message;
    }
  });
  previews.addEventListener("change", () => save({ push_previews: previews.checked }, "Notification setting"));

  // The permission is asked only here, on a click.
  async function enablePush() {
    try {
      if (!("Notification" in window) || !swRegistration()) throw new Error("This browser cannot show notifications.");
      const perm = await Notification.requestPermission();
      if (perm !== "granted") throw new Error("Notifications were not allowed.");
      await subscribePush(swRegistration());
      status.textContent = "Notifications are on for this browser.";
    } catch (e) {
      status.textContent = e.message;
    }
  }

  const root = h("section", { class: "page", "aria-labelledby": "settings-title" },
    h("header", { class: "page-head" }, h("a", { href: "#/", class: "back", "aria-label": "Back to chats" }, "‹"), h("h2", { id: "settings-title" }, "Settings")),
    h("section", { "aria-labelledby": "st-profile" }, h("h3", { id: "st-profile" }, "Profile"),
      picBox,
      h("label", { for: "st-pic" }, "Profile picture"), pic,
      h("form", { onsubmit: (e) => { e.preventDefault(); save({ display_name: name.value.trim(), bio: bio.value }, "Profile"); } },
        h("label", { for: "st-name" }, "Display name"), name,
        h("label", { for: "st-bio" }, "Bio"), bio,
        h("button", { type: "submit", class: "primary" }, "Save profile"))),
    h("section", { "aria-labelledby": "st-notif" }, h("h3", { id: "st-notif" }, "Notifications"),
      h("div", { class: "check" }, previews, h("label", { for: "st-previews" }, "Show message previews in notifications")),
      h("button", { type: "button", onclick: enablePush }, "Enable notifications in this browser")),
    devices,
    status,
    h("button", { type: "button", class: "danger", onclick: logout }, "Log out"));

  function render() {
    if (filled !== state.me.id) {
      filled = state.me.id;
      name.value = state.me.display_name || "";
      bio.value = state.me.bio || "";
      previews.checked = state.me.push_previews !== false;
    }
    const label = state.me.display_name || state.me.handle;
    const key = `${label}|${state.me.profile_pic}`;
    if (picBox.dataset.key !== key) {
      picBox.dataset.key = key;
      picBox.replaceChildren(avatar(label, state.me.profile_pic, false), h("span", { class: "handle" }, ` @${state.me.handle}`));
    }
    if (!state.sessionsSupported) {
      devices.hidden = true;
      return;
    }
    if (shownSessions === state.sessions) return;
    shownSessions = state.sessions;
    devices.hidden = false;
    devices.replaceChildren(h("h3", { id: "st-devices" }, "Devices"),
      h("ul", { class: "people", "aria-label": "Devices" }, ...(state.sessions || []).map((d) => {
        const id = String(d.id || d.device_id);
        const current = d.current || String(d.device_id || d.id) === String(state.deviceId);
        const seen = d.last_seen_at ? `, last seen ${new Date(d.last_seen_at).toLocaleString()}` : "";
        return h("li", null, h("span", null, d.device_name || d.name || "Device", current ? " (this device)" : seen),
          current ? null : h("button", { type: "button", onclick: async () => { await api("DELETE", `/v1/sessions/${id}`).catch((e) => { status.textContent = e.message; }); detectSessions(); } }, `Revoke ${d.device_name || d.name || "device"}`));
      })));
  }
  return { root, render };
}

// subscribePush registers this browser's push subscription with the
// server (again after a new login: logging out removes a device's
// registrations).
export async function subscribePush(registration) {
  let key;
  try {
    key = (await get("/v1/push/vapid-public-key")).public_key;
  } catch {
    throw new Error("This server does not send Web Push notifications.");
  }
  const reg = await registration;
  if (!reg) throw new Error("This browser cannot show notifications.");
  const sub = (await reg.pushManager.getSubscription()) || (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64url(key) }));
  await post("/v1/push/subscriptions", sub.toJSON());
}

function b64url(s) {
  const pad = "=".repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
