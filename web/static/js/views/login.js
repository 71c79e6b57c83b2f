// The login view: log in, or create an account and log in.
import { h } from "../dom.js";
import { post } from "../api.js";

export function loginView(onSession) {
  const handle = h("input", { id: "login-handle", name: "handle", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const display = h("input", { id: "login-display", name: "display_name", autocomplete: "name" });
  const error = h("p", { class: "error", role: "alert" });
  const busy = (on) => form.querySelectorAll("button").forEach((b) => { b.disabled = on; });

  async function login() {
    const s = await post("/v1/sessions", { handle: handle.value.trim(), password: password.value, device_name: deviceName() });
    onSession(s);
  }
  async function run(fn) {
    error.textContent = "";
    if (!form.reportValidity()) return;
    busy(true);
    try {
      await fn();
    } catch (e) {
      error.textContent = e.code === "unauthorized" ? "Wrong handle or password." : e.message;
    } finally {
      busy(false);
    }
  }

  const form = h("form", { class: "login-form", "aria-labelledby": "login-title", onsubmit: (e) => { e.preventDefault(); run(login); } },
    h("div", { class: "brand" }, h("img", { src: "/icon.svg", alt: "", width: 56, height: 56 }), h("h1", { id: "login-title" }, "Parley")),
    h("label", { for: "login-handle" }, "Handle"), handle,
    h("label", { for: "login-password" }, "Password"), password,
    h("label", { for: "login-display" }, "Display name (new accounts)"), display,
    error,
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, "Log in"),
      h("button", {
        type: "button",
        onclick: () => run(async () => {
          const body = { handle: handle.value.trim(), password: password.value };
          if (display.value.trim()) body.display_name = display.value.trim();
          await post("/v1/users", body);
          await login();
        }),
      }, "Create account")),
    h("p", { class: "hint" }, "Handles: 3–32 letters, digits, _ or ., passwords at least 8 characters."));
  return h("main", { class: "login", "aria-label": "Log in" }, form);
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  return `${browser} (web)`;
}
