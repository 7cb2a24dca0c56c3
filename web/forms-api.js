// What the form pages share: a JSON request with a body (apiSend), the page's own checks and the
// API's 4xx field errors shown next to the field they name, the console's one header
// (web/shell.js: navigation, locale switch, user; the page's NAV key is its body's data-page),
// and the city's time zone (GET /api/v1/config when the server has it).
import { ApiError, api, ensureToken } from "./common.js";
import { errorText, register, t } from "./i18n.js";
import common from "./locales/common.js";
import forms from "./locales/forms.js";
import { mountShell, showUser } from "./shell.js";

export { api, ApiError };
export const $ = (id) => document.getElementById(id);
export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

register(common);
register(forms);

/** A write: method and JSON body; an error body becomes an ApiError naming its field. */
export async function apiSend(method, path, body) {
  const token = await ensureToken();
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** Mount the shared header (which translates the page), ask for the token when none is
 * known, then show who is signed in. */
export async function startPage() {
  const page = document.body.dataset.page;
  mountShell({ page, title: `forms.page.${page}` });
  await ensureToken();
  showUser();
}

/** The city's time zone: from the server's config when it serves one, else Asia/Shanghai. */
export async function cityTimeZone() {
  try {
    const config = await api("/api/v1/config");
    return config?.time_zone || DEFAULT_TIME_ZONE;
  } catch {
    return DEFAULT_TIME_ZONE;
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/** Removes the errors shown in a form. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) {
    general.textContent = "";
    general.hidden = true;
  }
}

/** The control a field path names: "schedule.0.start" → [name="schedule.0.start"], else
 * [name="schedule"] (the nearest enclosing named control or group). */
function fieldControl(form, field) {
  const parts = String(field).split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const name = parts.slice(0, n).join(".");
    const found = form.querySelector(`[name="${CSS.escape(name)}"], [data-field="${CSS.escape(name)}"]`);
    if (found) return found;
  }
  return null;
}

/** Shows text next to the field; returns false when the form has no such field. */
export function showFieldError(form, field, text) {
  const control = field ? fieldControl(form, field) : null;
  if (!control) {
    const general = form.querySelector(".form-error");
    if (general) {
      general.textContent = field ? `${field}: ${text}` : text;
      general.hidden = false;
    }
    return false;
  }
  control.setAttribute("aria-invalid", "true");
  const note = el("span", { class: "field-error", role: "alert", dataset: { for: field }, text });
  const anchor = control.closest("label") ?? control;
  anchor.after(note);
  return true;
}

/** An API error shown in the form (its field, or the form's general line). */
export function showApiError(form, err) {
  const body = err instanceof ApiError ? err.body : null;
  const text = err instanceof ApiError ? errorText(body, err.status) : String(err.message ?? err);
  showFieldError(form, body?.field ?? null, text);
}

/** The page's own checks (HTML constraints plus extra ones), shown like the API's. */
export function checkForm(form, extra = () => []) {
  clearErrors(form);
  let ok = true;
  for (const control of form.querySelectorAll("input, select, textarea")) {
    if (control.checkValidity()) continue;
    ok = false;
    const key = control.validity.valueMissing ? "forms.required" : "forms.invalid";
    showFieldError(form, control.name, t(key));
  }
  for (const [field, key] of extra()) {
    ok = false;
    showFieldError(form, field, t(key));
  }
  return ok;
}

/** Shows a line in the page's status area (#notice). */
export function notice(text, kind = "ok") {
  const box = $("notice");
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}

/** A date-time for people in the city's zone, with the zone named. */
export function zoneLabel(timeZone) {
  return t("forms.time_zone", { zone: timeZone });
}

/** "YYYY-MM-DDTHH:MM" wall-clock time in timeZone → a UTC ISO instant. */
export function localToInstant(value, timeZone) {
  const [datePart, timePart = "00:00"] = value.split("T");
  const [y, mo, d] = datePart.split("-").map(Number);
  const [h, mi] = timePart.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  // the zone's offset at the guess, applied twice to settle across an offset change
  let instant = guess;
  for (let i = 0; i < 2; i += 1) instant = guess - offsetMs(instant, timeZone);
  return new Date(instant).toISOString();
}

function offsetMs(instant, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(instant));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** A UTC instant → "YYYY-MM-DDTHH:MM" wall-clock time in timeZone (for datetime-local inputs). */
export function instantToLocal(instant, timeZone) {
  const date = instant instanceof Date ? instant : new Date(instant);
  const local = new Date(date.getTime() + offsetMs(date.getTime(), timeZone));
  return local.toISOString().slice(0, 16);
}
