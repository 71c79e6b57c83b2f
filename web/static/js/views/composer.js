// The composer: Enter sends, Shift+Enter makes a new line; a draft is kept
// per conversation; files are attached with the button, pasted or dropped.
import { h, randomId } from "../dom.js";
import { upload } from "../api.js";
import { state, changed, conv, saveDrafts, userName, saveQueue } from "../store.js";
import * as rt from "../realtime.js";
import { previewText } from "./list.js";

export function composerView() {
  const input = h("textarea", { id: "composer-input", rows: 1, placeholder: "Message", "aria-label": "Message", enterkeyhint: "send" });
  const file = h("input", { type: "file", id: "composer-file", class: "sr-only", "aria-label": "Attach a file" });
  const reply = h("div", { class: "reply-preview" });
  let current = null;
  let saveTimer = 0;

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === "Escape" && state.replyTo) {
      state.replyTo = null;
      changed();
    }
  });
  input.addEventListener("input", () => {
    state.drafts[current] = input.value;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDrafts, 300);
    if (input.value) rt.typing(current);
    autosize();
  });
  input.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) {
      e.preventDefault();
      files.forEach(sendFile);
    }
  });
  file.addEventListener("change", () => {
    [...file.files].forEach(sendFile);
    file.value = "";
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  function submit() {
    const body = input.value.trim();
    if (!body) return;
    const msg = { client_msg_id: randomId(), type: "text", body };
    if (state.replyTo && state.replyTo.conversation_id === current) msg.reply_to = String(state.replyTo.message.id);
    state.replyTo = null;
    input.value = "";
    delete state.drafts[current];
    saveDrafts();
    autosize();
    rt.send(current, msg);
  }

  // sendFile uploads and then sends; the message shows as pending
  // (uploading) meanwhile.
  async function sendFile(f) {
    const id = current;
    const c = conv(id);
    const image = /^image\/(png|jpeg|gif)$/.test(f.type);
    const p = {
      conversation_id: id, client_msg_id: randomId(), type: image ? "image" : "file", body: image ? "" : f.name,
      created_at: new Date().toISOString(), sender_id: state.me.id, uploading: true, file: true,
    };
    c.pending.push(p);
    changed();
    try {
      const media = await upload(f);
      p.media_id = String(media.id);
      p.media = media;
      p.type = media.content_type.startsWith("image/") && media.width ? "image" : "file";
      if (p.type === "file") p.body = media.filename || f.name;
      p.uploading = false;
      p.file = false;
      saveQueue();
      changed();
      rt.flush();
    } catch (e) {
      p.uploading = false;
      p.failed = `Upload failed: ${e.message}`;
      changed();
    }
  }

  const form = h("form", { class: "composer", "aria-label": "Write a message", onsubmit: (e) => { e.preventDefault(); submit(); } },
    reply,
    h("div", { class: "composer-row" },
      h("label", { for: "composer-file", class: "attach", title: "Attach a file" }, clip(), h("span", { class: "sr-only" }, "Attach")),
      file, input,
      h("button", { type: "submit", class: "primary" }, "Send")));

  // Dropping files anywhere on the chat sends them.
  const dropTarget = (root) => {
    root.addEventListener("dragover", (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) e.preventDefault(); });
    root.addEventListener("drop", (e) => {
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      [...e.dataTransfer.files].forEach(sendFile);
    });
  };
  queueMicrotask(() => dropTarget(form.parentElement || form));

  function render(c) {
    if (current !== c.id) {
      current = c.id;
      input.value = state.drafts[c.id] || "";
      autosize();
    }
    const r = state.replyTo && state.replyTo.conversation_id === c.id ? state.replyTo.message : null;
    reply.replaceChildren();
    if (r) {
      reply.append(
        h("blockquote", { class: "quote", "aria-label": "Replying to" }, h("span", { class: "sender" }, `Replying to ${userName(r.sender_id)}`), h("span", null, previewText(r))),
        h("button", { type: "button", onclick: () => { state.replyTo = null; changed(); } }, "Cancel reply"));
    }
  }

  return { root: form, render, focus: () => input.focus() };
}

// clip is the attach icon, drawn as SVG: system fonts may have no emoji.
function clip() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linecap", "round");
  svg.append(path);
  return svg;
}
