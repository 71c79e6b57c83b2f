// DOM helpers. Everything on the page is built with createElement and
// textContent: no string ever becomes markup, so text a user wrote cannot
// run. Links are made from text only for http(s) URLs.

// h creates an element. props: class, text, on<Event> handlers, and
// attributes; children are nodes, strings (as text) or arrays of them.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "value") el.value = v;
      else if (k === "checked") el.checked = !!v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === "href" || k === "src") el.setAttribute(k, safeURL(v));
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// safeURL admits same-origin paths, hash routes, blob: URLs made by this
// page and http(s) URLs; anything else (javascript:, data:) becomes "#".
export function safeURL(u) {
  const s = String(u);
  if (s.startsWith("#") || (s.startsWith("/") && !s.startsWith("//"))) return s;
  try {
    const url = new URL(s, location.href);
    if (url.protocol === "http:" || url.protocol === "https:" || url.protocol === "blob:") return url.href;
  } catch {
    // not a URL
  }
  return "#";
}

const linkRE = /\bhttps?:\/\/[^\s<>"']+/gi;

// linkify returns text and <a> nodes for the http(s) URLs in text.
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(linkRE)) {
    let url = m[0].replace(/[.,!?;:)\]]+$/, "");
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    last = m.index + url.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
  return s.toUpperCase();
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long" });

export function timeOf(iso) {
  return iso ? timeFmt.format(new Date(iso)) : "";
}

export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const start = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((start(today) - start(d)) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return weekdayFmt.format(d);
  return dateFmt.format(d);
}

// shortTime is the list's time: the hour today, else the date.
export function shortTime(iso) {
  if (!iso) return "";
  return dayLabel(iso) === "Today" ? timeOf(iso) : dayLabel(iso);
}

export function fileSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// randomId is a client_msg_id; crypto.getRandomValues works on plain http
// pages too, unlike crypto.randomUUID.
export function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
