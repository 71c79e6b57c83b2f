// The HTTP API (docs/api.md): JSON requests with the bearer token, media
// fetched with fetch() and shown from blob: URLs (an <img src> cannot carry
// the token).
import { state } from "./store.js";

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let payload;
  if (body instanceof Blob) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new APIError(0, "network", "You are offline.");
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    if (res.status === 401 && state.token && path !== "/v1/sessions") onUnauthorized();
    throw new APIError(res.status, err.code || "http", err.message || res.statusText);
  }
  return data;
}

export const get = (p) => api("GET", p);
export const post = (p, b) => api("POST", p, b ?? {});
export const patch = (p, b) => api("PATCH", p, b);
export const put = (p, b) => api("PUT", p, b);
export const del = (p) => api("DELETE", p);

export function upload(file) {
  const name = file.name ? `?filename=${encodeURIComponent(file.name)}` : "";
  return api("POST", `/v1/media${name}`, file);
}

const blobs = new Map(); // path -> Promise<object URL>

// mediaURL returns a blob: URL for a /v1/media/ path, fetched once.
export function mediaURL(path) {
  if (!blobs.has(path)) {
    const p = (async () => {
      let res;
      try {
        res = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
      } catch {
        throw new APIError(0, "network", "You are offline.");
      }
      if (!res.ok) throw new APIError(res.status, "http", res.statusText);
      return URL.createObjectURL(await res.blob());
    })();
    // A refusal (404: not visible to this user) is remembered; a network
    // failure is tried again on the next render.
    p.catch((e) => { if (!(e.status >= 400 && e.status < 500)) blobs.delete(path); });
    blobs.set(path, p);
  }
  return blobs.get(path);
}

export function forgetMedia() {
  for (const p of blobs.values()) p.then((u) => URL.revokeObjectURL(u), () => {});
  blobs.clear();
}
