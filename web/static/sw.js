// Parley's service worker: shows Web Push notifications. A push only says
// that something is new (docs/api.md, Push notifications); the page fetches
// the messages itself when opened.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// notificationFor turns a PushNotification into the title and options of a
// system notification. The text is shown by the system as plain text.
function notificationFor(n) {
  const sender = typeof n.sender_name === "string" && n.sender_name ? n.sender_name : "Someone";
  const title = typeof n.title === "string" && n.title ? `${sender} in ${n.title}` : sender;
  const body = typeof n.preview === "string" && n.preview ? n.preview : "New message";
  return {
    title,
    options: {
      body,
      tag: typeof n.collapse_key === "string" ? n.collapse_key : "parley",
      renotify: true,
      icon: "/icon.svg",
      data: { conversation_id: String(n.conversation_id || "") },
    },
  };
}

function payload(event) {
  if (!event.data) return {};
  try {
    return event.data.json();
  } catch {
    return {};
  }
}

self.addEventListener("push", (event) => {
  const { title, options } = notificationFor(payload(event));
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.conversation_id;
  const url = id ? `/#/c/${encodeURIComponent(id)}` : "/";
  event.waitUntil((async () => {
    const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const c of all) {
      if (new URL(c.url).origin === self.location.origin) {
        await c.focus();
        c.postMessage({ type: "open", conversation_id: id });
        return;
      }
    }
    await self.clients.openWindow(url);
  })());
});
