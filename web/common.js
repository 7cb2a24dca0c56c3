// What the console pages share: the staff token (token.js: a one-time #token= fragment, this
// tab's storage or a sign-in dialog; never the query string) and a JSON fetch that turns error
// bodies into exceptions naming the field.

import { askToken, dropToken, takeToken } from "./token.js";

export const params = new URLSearchParams(location.search);
export const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ? `${body.message}${body.field ? ` (${body.field})` : ""}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let token = takeToken();
let asking = null; // one sign-in dialog at a time, however many requests were refused

/** The staff token; asks for one with the page's login dialog when none is known. */
export async function ensureToken() {
  if (!token) token = await signInAgain();
  return token;
}

/** The token expired or was revoked: forget it and sign in again (one dialog for all). */
export function signInAgain() {
  dropToken();
  token = "";
  asking ??= askToken().then((fresh) => {
    token = fresh;
    asking = null;
    return fresh;
  });
  return asking;
}

export async function api(path) {
  return apiSend("GET", path);
}

/** A request with an optional JSON body (POST, PUT, PATCH, DELETE); the answer's JSON, or an
 * ApiError carrying the error body (its stable `error` code, `message`, `field`). A 401 (token
 * expired or revoked) opens the sign-in dialog and the request is sent once more. */
export async function apiSend(method, path, body, retried = false) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (resp.status === 401 && token && !retried) {
    await signInAgain(); // an all-day session outlives its token: sign in, then try once more
    return apiSend(method, path, body, true);
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export function pct(value, digits = 1) {
  if (value == null) return "—";
  const scale = 10 ** digits;
  return `${Math.round(value * 100 * scale) / scale} %`;
}

export function number(value) {
  return value == null ? "—" : Number(value).toLocaleString("en-US");
}

/** The display level of a yard: closed, full, high (≥ 90 %), warn (≥ 75 %) or ok. */
export function fillLevel(fillPct, closed) {
  if (closed) return "closed";
  if (fillPct >= 100) return "full";
  if (fillPct >= 90) return "high";
  if (fillPct >= 75) return "warn";
  return "ok";
}

export function formatPct(value) {
  return value == null ? "—" : `${Math.round(value * 10) / 10} %`;
}
