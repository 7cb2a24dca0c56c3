// The outbox page: subscriptions (list, add, delete), a subscriber's deliveries, dead letters
// with replay, and recent events with their delivery states. Words: locales/outbox.js.
import { $, ensureToken, ApiError } from "./common.js";
import { applyI18n, errorText, formatDateTime, locale, register, setLocale, t } from "./i18n.js";
import common from "./locales/common.js";
import words from "./locales/outbox.js";

register(common);
register(words);
const CITY_ZONE = "Asia/Shanghai";
const API = "/api/v1/outbox";
let token = "";

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function say(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.hidden = false;
  el.className = isError ? "error" : "muted";
}

function cell(row, text, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  for (const [k, v] of Object.entries(attrs)) td.dataset[k] = v;
  row.append(td);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  b.addEventListener("click", () => onClick().catch((e) => say(errorText(e.body, e.status), true)));
  return b;
}

const typeName = (type) => t(`outbox.type.${type}`);
const counts = (c) =>
  ["delivered", "pending", "dead"].map((s) => `${t(`outbox.state.${s}`)} ${c?.[s] ?? 0}`).join(" · ");

async function loadSubscriptions() {
  const subs = await call("GET", `${API}/subscriptions`);
  const body = $("subscriptions");
  body.replaceChildren();
  for (const s of subs) {
    const row = document.createElement("tr");
    row.dataset.subscriptionId = String(s.id);
    cell(row, s.name);
    cell(row, t(`outbox.kind.${s.kind}`) + (s.company_id ? ` #${s.company_id}` : ""));
    cell(row, t(`outbox.channel.${s.channel}`));
    cell(row, s.target);
    cell(row, s.event_types.length ? s.event_types.map(typeName).join("、") : "*");
    cell(row, t(s.active ? "outbox.active" : "outbox.inactive"));
    cell(row, counts(s.deliveries), { counts: "1" });
    const actions = cell(row, "");
    actions.append(
      button(t("outbox.show"), () => showDeliveries(s)),
      button(t("outbox.delete"), async () => {
        await call("DELETE", `${API}/subscriptions/${s.id}`);
        await loadAll();
      }),
    );
    body.append(row);
  }
  $("subscriptions-empty").hidden = subs.length > 0;
}

async function showDeliveries(sub) {
  const rows = await call("GET", `${API}/subscriptions/${sub.id}/deliveries?limit=50`);
  $("deliveries-of").textContent = sub.name;
  const body = $("deliveries");
  body.replaceChildren();
  for (const d of rows) {
    const row = document.createElement("tr");
    row.dataset.state = d.state;
    cell(row, formatDateTime(d.occurred_at, CITY_ZONE));
    cell(row, typeName(d.event_type));
    cell(row, t(`outbox.state.${d.state}`));
    cell(row, String(d.attempts));
    cell(row, d.last_error ?? "");
    body.append(row);
  }
  $("deliveries-section").hidden = false;
}

async function loadDead() {
  let rows = [];
  try {
    rows = await call("GET", `${API}/dead-letters?limit=100`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 403)) throw e; // company users: not theirs
  }
  const body = $("dead");
  body.replaceChildren();
  for (const d of rows) {
    const row = document.createElement("tr");
    row.dataset.deliveryId = String(d.id);
    cell(row, formatDateTime(d.dead_at, CITY_ZONE));
    cell(row, typeName(d.event_type));
    cell(row, d.subscription);
    cell(row, String(d.attempts));
    cell(row, d.last_error, { reason: "1" });
    cell(row, "").append(
      button(t("outbox.replay"), async () => {
        await call("POST", `${API}/deliveries/${d.id}/replay`);
        say(t("outbox.replayed", { id: d.id }));
        await loadAll();
      }),
    );
    body.append(row);
  }
  $("dead-empty").hidden = rows.length > 0;
}

async function loadEvents() {
  const rows = await call("GET", `${API}/events?limit=50`);
  const body = $("events");
  body.replaceChildren();
  for (const e of rows) {
    const row = document.createElement("tr");
    row.dataset.eventId = String(e.id);
    cell(row, formatDateTime(e.occurred_at, CITY_ZONE));
    cell(row, typeName(e.type));
    cell(row, e.payload.plate ?? e.payload.yard ?? "");
    cell(row, counts(e.deliveries));
    body.append(row);
  }
}

async function loadTypes() {
  const types = await call("GET", `${API}/event-types`);
  const box = $("sub-types");
  box.replaceChildren();
  for (const { type } of types) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = type;
    label.append(input, ` ${typeName(type)}`);
    box.append(label);
  }
}

async function loadAll() {
  await Promise.all([loadSubscriptions(), loadDead(), loadEvents()]);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

async function save(ev) {
  ev.preventDefault();
  const company = $("sub-company").value;
  const body = {
    name: $("sub-name").value.trim(),
    kind: $("sub-kind").value,
    company_id: company ? Number(company) : null,
    channel: $("sub-channel").value,
    target: $("sub-target").value.trim(),
    secret: $("sub-secret").value || null,
    batch_max: Number($("sub-batch").value || 1),
    event_types: [...$("sub-types").querySelectorAll("input:checked")].map((i) => i.value),
  };
  try {
    const made = await call("POST", `${API}/subscriptions`, body);
    say(t("outbox.saved", { id: made.id }));
    $("sub-form").reset();
    await loadAll();
  } catch (e) {
    say(errorText(e.body, e.status), true);
  }
}

async function main() {
  applyI18n();
  $("locale").addEventListener("click", () => {
    setLocale(locale() === "zh-CN" ? "en" : "zh-CN");
    location.reload();
  });
  token = await ensureToken();
  $("reload").addEventListener("click", () => loadAll());
  $("sub-form").addEventListener("submit", save);
  await loadTypes();
  await loadAll();
}

main().catch((e) => say(e instanceof ApiError ? errorText(e.body, e.status) : String(e), true));
