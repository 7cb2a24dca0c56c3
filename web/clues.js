// The officers' clue queue: clues newest first (filtered by status), one clue with its photos,
// and the moves an officer makes on it (verify, make a case, close with a reason). Times in the
// city's zone. Photos are fetched with the token and shown as data: URLs (the CSP allows no blob:).

import { $, ensureToken } from "./common.js";
import { applyI18n, errorText, formatDateTime, register, t } from "./i18n.js";
import common from "./locales/common.js";
import clues from "./locales/clues.js";

register(common);
register(clues);
applyI18n();
const CITY_ZONE = "Asia/Shanghai";
let token = "";
let current = null;

async function call(path, options = {}) {
  const resp = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(errorText(body, resp.status));
  return body;
}

async function photoUrl(clueId, n) {
  const resp = await fetch(`/api/v1/clues/${clueId}/photos/${n}`, { headers: { Authorization: `Bearer ${token}` } });
  const blob = await resp.blob();
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
}

function fact(list, label, value) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value ?? "—";
  list.append(dt, dd);
}

async function show(clue) {
  current = clue;
  $("clue").hidden = false;
  $("clue").dataset.id = clue.id;
  $("clue-title").textContent = `#${clue.id} ${t(`clues.kind.${clue.kind}`)}`;
  $("clue-status").textContent = t(`clues.status.${clue.status}`);
  $("clue-status").dataset.status = clue.status;
  const facts = $("clue-facts");
  facts.replaceChildren();
  fact(facts, t("clues.detail.plate"), clue.plate);
  fact(facts, t("clues.detail.seen"), formatDateTime(clue.observed_at, CITY_ZONE));
  fact(facts, t("clues.detail.reported"), `${formatDateTime(clue.created_at, CITY_ZONE)} · ${t(`clues.queue.source.${clue.source}`)}`);
  fact(facts, t("clues.where"), clue.lon == null ? null : `${clue.lon}, ${clue.lat}`);
  fact(facts, t("clues.detail.contact"), clue.contact);
  $("clue-text").textContent = clue.description || "";
  const photos = $("clue-photos");
  photos.replaceChildren();
  for (const p of clue.photos) {
    const img = document.createElement("img");
    img.alt = `photo ${p.n}`;
    img.style.maxWidth = "100%";
    img.src = await photoUrl(clue.id, p.n);
    photos.append(img);
  }
  $("action-message").hidden = true;
}

async function load() {
  const status = $("filter").value;
  const body = await call(`/api/v1/clues${status ? `?status=${status}` : ""}`);
  const list = $("clues");
  list.replaceChildren();
  for (const clue of body.clues) {
    const li = document.createElement("li");
    li.dataset.id = clue.id;
    li.dataset.status = clue.status;
    const when = document.createElement("span");
    when.textContent = formatDateTime(clue.created_at, CITY_ZONE, { second: undefined });
    const what = document.createElement("span");
    what.textContent = `${clue.plate ?? "—"} · ${t(`clues.kind.${clue.kind}`)}`;
    const state = document.createElement("span");
    state.className = "badge";
    state.textContent = t(`clues.status.${clue.status}`);
    li.append(what, when, state);
    li.addEventListener("click", () => show(clue));
    list.append(li);
  }
  $("clues-empty").hidden = body.clues.length > 0;
  list.dataset.loaded = "1";
}

async function act(action) {
  const note = $("note").value.trim();
  const body = action === "close" ? { reason: note } : action === "verify" ? { note } : { note };
  const message = $("action-message");
  message.hidden = false;
  try {
    const clue = await call(`/api/v1/clues/${current.id}/${action}`, { method: "POST", body: JSON.stringify(body) });
    message.dataset.kind = "ok";
    message.textContent = t(`clues.status.${clue.status}`);
    $("note").value = "";
    await show(clue);
    await load();
  } catch (err) {
    message.dataset.kind = "error";
    message.textContent = err.message;
  }
}

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
$("filter").addEventListener("change", () => load().catch(fail));

function fail(err) {
  $("error").hidden = false;
  $("error").textContent = err.message;
}

token = await ensureToken();
load().catch(fail);
