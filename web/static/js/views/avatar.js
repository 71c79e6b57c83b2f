// Avatars: the user's picture when it is served by this node (fetched with
// the token), else initials. Pictures elsewhere are not fetched: the page
// loads nothing from outside the node.
import { h, initials } from "../dom.js";
import { mediaURL } from "../api.js";

export function avatar(name, pic, online) {
  const el = h("span", { class: "avatar", "aria-hidden": "true" }, h("span", { class: "initials" }, initials(name)));
  if (typeof pic === "string" && pic.startsWith("/v1/media/")) {
    mediaURL(pic).then((url) => {
      el.replaceChildren(h("img", { src: url, alt: "" }));
      if (online) el.append(h("span", { class: "dot" }));
    }, () => {});
  }
  if (online) el.append(h("span", { class: "dot" }));
  return el;
}
