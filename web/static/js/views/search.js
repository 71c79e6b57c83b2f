// Searching one's messages (GET /v1/search): words, prefixes and "quoted
// phrases", newest first, over every conversation the user may read.
import { h, shortTime } from "../dom.js";
import { get } from "../api.js";
import { state, conv, convTitle, userName } from "../store.js";
import { openDialog } from "./dialog.js";

export function searchDialog() {
  const input = h("input", { id: "search-input", type: "search", autocomplete: "off" });
  const results = h("ul", { class: "results", "aria-label": "Search results" });
  const status = h("p", { class: "history-state", role: "status" });
  let dlg;
  let seq = 0;
  let timer = 0;

  async function run() {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) {
      results.replaceChildren();
      status.textContent = "";
      return;
    }
    try {
      const r = await get(`/v1/search?q=${encodeURIComponent(q)}&limit=50`);
      if (mine !== seq) return;
      status.textContent = r.results.length ? `${r.results.length} found` : "Nothing found.";
      results.replaceChildren(...r.results.map((x) => {
        const c = conv(x.conversation_id);
        const who = String(x.message.sender_id) === String(state.me.id) ? "You" : userName(x.message.sender_id);
        return h("li", null, h("button", {
          type: "button", class: "result",
          onclick: () => { dlg.close(); location.hash = `#/c/${x.conversation_id}`; },
        },
        h("span", { class: "result-conv" }, convTitle(c)),
        h("span", { class: "result-text" }, `${who}: ${x.snippet || x.message.body}`),
        h("time", { class: "conv-time" }, shortTime(x.message.created_at))));
      }));
    } catch (e) {
      if (mine === seq) status.textContent = e.message;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  dlg = openDialog("Search messages", h("label", { for: "search-input" }, "Words, a prefix or a \"phrase\""), input, status, results);
  input.focus();
}
