// The chat view: the conversation's log in seq order with day separators,
// ticks on one's own messages, typing, recall, replies, media. A long
// conversation never loads whole: the newest page is fetched first, older
// pages as the user scrolls up (before_seq), and the page holds a window of
// at most WINDOW messages that slides as the user scrolls either way.
import { h, linkify, timeOf, dayKey, dayLabel, fileSize } from "../dom.js";
import { get, mediaURL } from "../api.js";
import { state, changed, subscribe, conv, addMessage, tick, userName, convTitle, isSent, myReaction } from "../store.js";
import * as rt from "../realtime.js";
import { avatar } from "./avatar.js";
import { openDialog } from "./dialog.js";
import { composerView } from "./composer.js";
import { detailsDialog } from "./conversation.js";
import { previewText, settingText } from "./list.js";

const PAGE = 50;
const OLDER_PAGE = 100;
const WINDOW = 300; // messages in the page at most
const STEP = 100; // how far the window slides
const EDGE = 400; // px from an end that slides it

export function chatView() {
  const title = h("h2", { class: "chat-title" });
  const status = h("p", { class: "chat-status", "aria-live": "polite" });
  const pic = h("span");
  const list = h("ol", { class: "messages", "aria-label": "Messages", "aria-live": "polite", "aria-relevant": "additions" });
  const box = h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Message history" }, h("p", { class: "history-state" }), list);
  const historyState = box.firstChild;
  const composer = composerView();
  const root = h("section", { class: "chat", "aria-labelledby": "chat-title" },
    h("header", { class: "chat-head" },
      h("a", { href: "#/", class: "back", "aria-label": "Back to chats" }, "‹"),
      pic,
      h("div", { class: "chat-names" }, title, status),
      h("button", { type: "button", "aria-haspopup": "dialog", onclick: () => detailsDialog(conv(state.route.id)) }, "Details")),
    box, composer.root);
  title.id = "chat-title";

  let shown = null;
  const nodes = new Map(); // key -> {el, sig}
  let stick = true; // scrolled to the very end: new messages keep it there
  let follow = true; // the window ends at the newest message
  let topSeq = 0; // the oldest seq in the window when not following
  let pendingSeen = 0;

  box.addEventListener("scroll", () => {
    stick = follow && box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    slide(conv(shown));
  });

  // window returns the index range [start, end) of c.seqs in the page.
  function windowOf(c) {
    const n = c.seqs.length;
    if (follow) return [Math.max(0, n - WINDOW), n];
    let start = lowerBound(c.seqs, topSeq);
    const end = Math.min(n, start + WINDOW);
    start = Math.max(0, end - WINDOW);
    return [start, end];
  }

  // slide moves the window (or fetches an older page) when the user is
  // near either end of what the page holds.
  function slide(c) {
    if (!c || !c.loaded) return;
    const [start, end] = windowOf(c);
    if (box.scrollTop < EDGE) {
      if (start > 0) {
        follow = stick = false;
        topSeq = c.seqs[Math.max(0, start - STEP)];
        changed();
      } else if (c.hasOlder) {
        loadOlder(c);
      }
    } else if (!follow && box.scrollHeight - box.scrollTop - box.clientHeight < EDGE) {
      if (end + STEP >= c.seqs.length) follow = true;
      else topSeq = c.seqs[start + STEP];
      changed();
    }
  }

  async function loadNewest(c) {
    try {
      const r = await get(`/v1/conversation/${c.id}/details?limit=${PAGE}`);
      for (const m of r.messages) addMessage(m);
      c.hasOlder = r.messages.length === PAGE;
      c.loaded = true;
      rt.acknowledge(c);
    } catch (e) {
      state.notice = e.message;
    }
    changed();
  }

  async function loadOlder(c) {
    if (!c.loaded || !c.hasOlder || c.loadingOlder || !c.seqs.length) return;
    c.loadingOlder = true;
    changed();
    try {
      const r = await get(`/v1/conversation/${c.id}/details?limit=${OLDER_PAGE}&before_seq=${c.seqs[0]}`);
      for (const m of r.messages) addMessage(m);
      c.hasOlder = r.messages.length === OLDER_PAGE;
      // Show the new page even when that cuts the newest off the window.
      if (r.messages.length && shown === c.id && c.seqs.length > WINDOW) {
        follow = stick = false;
        topSeq = r.messages[0].seq;
      }
    } catch {
      // scrolling again retries
    }
    c.loadingOlder = false;
    changed();
  }

  function render() {
    const c = conv(state.route.id);
    if (shown !== c.id) {
      shown = c.id;
      list.replaceChildren();
      nodes.clear();
      stick = true;
      follow = true;
      pendingSeen = c.pending.length;
      if (!c.loaded) loadNewest(c);
      else rt.markRead(c);
      if (c.view && c.view.type === "direct" && c.view.recipient_id) rt.loadPresence([c.view.recipient_id]).catch(() => {});
    }
    const v = c.view;
    // Set only on change: the status line is announced when it changes.
    const name = convTitle(c);
    const picture = v && v.type === "direct" ? v.recipient_profile_pic : "";
    if (title.textContent !== name || pic.dataset.src !== `${name}|${picture}`) {
      title.textContent = name;
      pic.dataset.src = `${name}|${picture}`;
      pic.replaceChildren(avatar(name, picture, false));
    }
    const line = statusLine(c);
    if (status.textContent !== line) status.textContent = line;
    composer.render(c);

    // Writing a message jumps to the end.
    if (c.pending.length > pendingSeen) follow = stick = true;
    pendingSeen = c.pending.length;
    const [start, end] = windowOf(c);
    const atEnd = end === c.seqs.length;

    const items = [];
    let lastDay = null;
    let lastSender = null;
    const add = (m, key, pending) => {
      const day = dayKey(m.created_at);
      if (day !== lastDay) {
        items.push({ key: `d:${day}`, sig: dayLabel(m.created_at), build: () => h("li", { class: "day" }, h("span", null, dayLabel(m.created_at))) });
        lastDay = day;
        lastSender = null;
      }
      const showName = v && v.type === "group" && String(m.sender_id) !== String(state.me.id) && lastSender !== String(m.sender_id);
      lastSender = String(m.sender_id);
      const t = pending ? (m.failed ? "failed" : "pending") : String(m.sender_id) === String(state.me.id) ? tick(c, m) : "";
      if (m.type === "setting") {
        lastSender = null;
        items.push({ key, sig: `setting|${m.disappear_after}`, build: () => h("li", { class: "day setting" }, h("span", null, settingText(m))) });
        return;
      }
      const reacted = (m.reactions || []).map((r) => `${r.emoji}${r.count}`).join(",");
      const sig = `${m.body}|${m.recalled_at || ""}|${t}|${showName}|${m.media ? m.media.id : ""}|${m.reply_to || ""}|${m.edited_at || ""}|${reacted}|${m.forwarded ? 1 : 0}`;
      items.push({ key, sig, build: () => messageItem(c, m, t, showName, pending) });
    };
    for (let i = start; i < end; i++) {
      const m = c.msgs.get(c.seqs[i]);
      if (isSent(m) || m.type === "setting") add(m, `s:${m.seq}`, false);
    }
    if (atEnd) for (const p of c.pending) add(p, `p:${p.client_msg_id}`, true);
    historyState.textContent = c.loadingOlder ? "Loading earlier messages…" : start === 0 && c.loaded && !c.hasOlder ? "Start of the conversation" : "";

    // Keep the message at the top of the view where it is while items come
    // and go around it. A day separator cannot be the anchor: the same
    // day's separator stays first while a page is added above it.
    let anchor = null;
    let anchorOffset = 0;
    if (!stick) {
      for (const el of list.children) {
        if (!el.dataset.key.startsWith("d:") && el.offsetTop + el.offsetHeight > box.scrollTop) {
          anchor = el;
          anchorOffset = el.offsetTop - box.scrollTop;
          break;
        }
      }
    }
    const keep = new Set(items.map((i) => i.key));
    for (const [k, n] of nodes) {
      if (!keep.has(k)) {
        n.el.remove();
        nodes.delete(k);
      }
    }
    let prev = null;
    for (const it of items) {
      let n = nodes.get(it.key);
      if (!n || n.sig !== it.sig) {
        const el = it.build();
        el.dataset.key = it.key;
        if (n) {
          if (anchor === n.el) anchor = el;
          n.el.replaceWith(el);
        }
        n = { el, sig: it.sig };
        nodes.set(it.key, n);
      }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== n.el) list.insertBefore(n.el, want);
      prev = n.el;
    }
    if (stick) box.scrollTop = box.scrollHeight;
    else if (anchor && anchor.isConnected) box.scrollTop = anchor.offsetTop - anchorOffset;
    // A page shorter than the screen cannot be scrolled: fetch more.
    // Otherwise the window moves only when the user scrolls.
    if (box.scrollHeight <= box.clientHeight + EDGE) slide(c);
  }

  return { root, render, focus: () => composer.focus() };
}

function lowerBound(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function statusLine(c) {
  const v = c.view;
  if (!v) return "";
  const now = Date.now();
  const typers = [...c.typing].filter(([, until]) => until > now).map(([id]) => userName(id));
  if (typers.length) return v.type === "group" ? `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…` : "typing…";
  if (v.type === "group") return `${(v.members || []).length} members`;
  return state.presence.get(String(v.recipient_id)) ? "online" : "";
}

const tickText = { pending: "○", failed: "!", sent: "✓", delivered: "✓✓", read: "✓✓" };
const tickLabel = { pending: "Pending", failed: "Not sent", sent: "Sent", delivered: "Delivered", read: "Read" };

function messageItem(c, m, t, showName, pending) {
  const mine = String(m.sender_id) === String(state.me.id);
  const recalled = !!m.recalled_at;
  const parts = [];
  if (showName) parts.push(h("span", { class: "sender" }, userName(m.sender_id)));
  if (m.forwarded && !recalled) parts.push(h("span", { class: "forwarded" }, "Forwarded"));
  if (m.reply_to && !recalled) {
    const q = c.byId.get(String(m.reply_to));
    parts.push(h("blockquote", { class: "quote" },
      h("span", { class: "sender" }, q ? userName(q.sender_id) : "Reply"),
      h("span", null, q ? previewText(q) : "An earlier message")));
  }
  if (recalled) {
    parts.push(h("p", { class: "body deleted" }, "This message was deleted"));
  } else {
    if (m.type === "image" && m.media) parts.push(imageBlock(m));
    if (m.type === "file" && m.media) parts.push(fileBlock(m));
    if (m.body && !(m.type === "file" && m.media && m.body === m.media.filename)) parts.push(h("p", { class: "body" }, linkify(m.body)));
    if ((m.type === "image" || m.type === "file") && !m.media && pending) parts.push(h("p", { class: "body" }, m.uploading ? "Uploading…" : ""));
  }
  if (!recalled && !pending && m.reactions && m.reactions.length) {
    // Pressing one's own reaction takes it back; another's adds the same.
    const mineR = myReaction(m);
    parts.push(h("p", { class: "reactions", role: "group", "aria-label": "Reactions" },
      ...m.reactions.map((r) => h("button", {
        type: "button", class: r.emoji === mineR ? "reaction own" : "reaction",
        "aria-label": `${r.emoji} ${r.count}`, "aria-pressed": r.emoji === mineR ? "true" : "false",
        title: (r.user_ids || []).map(userName).join(", "),
        onclick: () => react(c, m, r.emoji === mineR ? "" : r.emoji),
      }, `${r.emoji} ${r.count}`))));
  }
  const meta = h("span", { class: "meta" }, h("time", { datetime: m.created_at }, timeOf(m.created_at)));
  if (m.edited_at && !recalled) meta.prepend(h("span", { class: "edited" }, "edited "));
  if (m.expires_at && !pending && !recalled) meta.prepend(h("span", { class: "timer", role: "img", "aria-label": "Disappears" }, "⏱"));
  if (mine && t) meta.append(h("span", { class: `tick ${t}`, role: "img", "aria-label": tickLabel[t] }, tickText[t]));
  if (m.failed) meta.append(h("span", { class: "failed" }, ` ${m.failed}`));
  const actions = h("span", { class: "actions" });
  if (!pending && !recalled) {
    actions.append(h("button", { type: "button", onclick: () => { state.replyTo = { conversation_id: c.id, message: m }; changed(); document.getElementById("composer-input")?.focus(); } }, "Reply"));
    actions.append(h("button", { type: "button", "aria-haspopup": "dialog", onclick: () => reactDialog(c, m) }, "React"));
    actions.append(h("button", { type: "button", "aria-haspopup": "dialog", onclick: () => forwardDialog(c, m) }, "Forward"));
    if (mine && (m.type === "text" || m.body)) {
      actions.append(h("button", { type: "button", "aria-haspopup": "dialog", onclick: () => editDialog(c, m) }, "Edit"));
    }
    if (mine) {
      actions.append(h("button", { type: "button", "aria-haspopup": "dialog", onclick: () => infoDialog(c, m) }, "Info"));
      actions.append(h("button", {
        type: "button",
        onclick: () => rt.recall(c.id, m.id).catch((e) => { state.notice = `Could not delete: ${e.message}`; changed(); }),
      }, "Delete"));
    }
  }
  return h("li", { class: mine ? "msg mine" : "msg" }, h("div", { class: "bubble" }, ...parts, meta), actions);
}

const EMOJIS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

function react(c, m, emoji) {
  rt.react(c.id, m.id, emoji).catch((e) => { state.notice = `Could not react: ${e.message}`; changed(); });
}

function reactDialog(c, m) {
  const mine = myReaction(m);
  const dlg = openDialog("React",
    h("p", { class: "quote" }, previewText(m)),
    h("div", { class: "emoji-picker", role: "group", "aria-label": "Emoji" }, ...EMOJIS.map((e) => h("button", {
      type: "button", "aria-label": `React with ${e}`, "aria-pressed": mine === e ? "true" : "false",
      onclick: () => { react(c, m, mine === e ? "" : e); dlg.close(); },
    }, e))),
    mine ? h("button", { type: "button", onclick: () => { react(c, m, ""); dlg.close(); } }, "Remove my reaction") : null);
}

function editDialog(c, m) {
  const input = h("textarea", { id: "edit-input", rows: 3 });
  input.value = m.body || "";
  const error = h("p", { class: "error", role: "alert" });
  const dlg = openDialog("Edit message",
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        const body = input.value.trim();
        if (!body) return;
        try {
          await rt.edit(c.id, m.id, body);
          dlg.close();
        } catch (err) {
          error.textContent = err.message;
        }
      },
    }, h("label", { for: "edit-input" }, "Message"), input, h("button", { type: "submit", class: "primary" }, "Save")),
    error);
  input.focus();
}

function forwardDialog(c, m) {
  const targets = [...state.convs.values()].filter((x) => x.view && x.view.active !== false)
    .sort((a, b) => String(b.view.last_activity_at || "").localeCompare(String(a.view.last_activity_at || "")));
  const dlg = openDialog("Forward message",
    h("p", { class: "quote" }, previewText(m)),
    h("ul", { class: "results", "aria-label": "Forward to" }, ...targets.map((x) => h("li", null, h("button", {
      type: "button",
      onclick: () => {
        rt.forward(x.id, c.id, m);
        dlg.close();
        location.hash = `#/c/${x.id}`;
      },
    }, `Forward to ${convTitle(x)}`)))));
}

function imageBlock(m) {
  const md = m.media;
  const alt = m.body ? `Image: ${m.body}` : "Image";
  const img = h("img", { alt, width: md.width ? Math.min(md.width, 320) : 240, height: md.width ? Math.round(Math.min(md.width, 320) * (md.height / md.width)) : 180 });
  const thumb = md.thumbnail_id ? `/v1/media/${md.id}/thumbnail` : `/v1/media/${md.id}`;
  mediaURL(thumb).then((u) => { img.src = u; }, () => { img.alt = `${alt} (unavailable)`; });
  return h("button", { type: "button", class: "image", "aria-label": `Open ${alt.toLowerCase()}`, onclick: () => viewer(m) }, img);
}

function viewer(m) {
  const img = h("img", { alt: m.body ? `Image: ${m.body}` : "Full-size image", class: "full" });
  mediaURL(`/v1/media/${m.media.id}`).then((u) => { img.src = u; }, () => {});
  openDialog("Image viewer", img);
}

function fileBlock(m) {
  const md = m.media;
  const name = md.filename || m.body || "file";
  return h("div", { class: "file" },
    h("span", { class: "file-icon", "aria-hidden": "true" }, (name.split(".").pop() || "file").slice(0, 4).toUpperCase()),
    h("span", { class: "file-name" }, name),
    h("span", { class: "file-size" }, fileSize(md.size)),
    h("button", {
      type: "button",
      onclick: async () => {
        const url = await mediaURL(`/v1/media/${md.id}`);
        const a = h("a", { href: url, download: name });
        document.body.append(a);
        a.click();
        a.remove();
      },
    }, `Download ${name}`));
}

function infoDialog(c, m) {
  const members = ((c.view && c.view.members) || []).filter((x) => String(x.user_id) !== String(state.me.id));
  const ul = h("ul", { class: "info", "aria-label": "Receipts" });
  const fill = () => ul.replaceChildren(...members.map((x) => {
    const r = c.receipts.get(String(x.user_id)) || { delivered_seq: 0, read_seq: 0 };
    const s = r.read_seq >= m.seq ? "Read" : r.delivered_seq >= m.seq ? "Delivered" : "Not delivered yet";
    return h("li", null, h("span", null, x.display_name || x.handle || userName(x.user_id)), " — ", h("span", null, s));
  }));
  fill();
  const dlg = openDialog("Message info", h("p", { class: "quote" }, previewText(m)), ul);
  // Receipts keep arriving while the panel is open.
  const stop = subscribe(fill);
  dlg.addEventListener("close", stop);
}
