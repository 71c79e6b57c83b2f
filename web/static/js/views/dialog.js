// Modal panels: a native <dialog>, so focus is trapped and Esc closes it.
import { h } from "../dom.js";

export function openDialog(title, ...content) {
  const heading = h("h2", null, title);
  const dlg = h("dialog", { "aria-label": title, class: "panel" },
    h("div", { class: "panel-head" }, heading, h("button", { type: "button", class: "close", "aria-label": "Close", onclick: () => dlg.close() }, "✕")),
    h("div", { class: "panel-body" }, ...content));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
