// The yard page: every disposal yard's fill, and one yard's fill curve, remaining volume and
// days-to-full forecast (GET /api/v1/yards/capacity and /api/v1/yards/{id}/capacity). Capacity
// alerts from the live feed refresh it. Query string: yard (id), days (history).
import { $, api, ensureToken, fillLevel, formatPct, params } from "./common.js";
import { lineChart } from "./chart.js";
import { errorText, formatDateTime, formatNumber, register, t, term } from "./i18n.js";

import { exportButton } from "./exports.js";
import { LiveConnection } from "./live.js";
import mapWords from "./locales/map.js";
import words from "./locales/yard.js";
import { cityTimeZone, mountShell, showUser, zoneLabel } from "./shell.js";

register(mapWords);
register(words);
mountShell({ page: "yards", title: "yard.title" });

const DAY_MS = 864e5;
const state = { yards: [], selected: Number(params.get("yard")) || null, detail: null, alerts: new Map(), zone: "Asia/Shanghai" };
window.trackerYards = state; // read by the browser tests

function m3(value) {
  return value == null ? "—" : t("units.m3", { value: formatNumber(Math.round(value)) });
}

function fact(name, text) {
  document.querySelector(`[data-fact="${name}"]`).textContent = text;
}

function showError(err) {
  $("error").hidden = !err;
  $("error").textContent = err ? t("yard.unavailable", { error: err.body ? errorText(err.body, err.status) : err.message }) : "";
}

function renderList() {
  const list = $("yards");
  list.replaceChildren();
  for (const y of state.yards) {
    const li = document.createElement("li");
    li.dataset.yardId = String(y.yard_id);
    if (y.yard_id === state.selected) li.classList.add("selected");
    const name = document.createElement("b");
    name.textContent = y.name;
    const gauge = document.createElement("span");
    gauge.className = `gauge level-${fillLevel(y.fill_pct, y.status === "closed")}`;
    const bar = document.createElement("i");
    bar.style.width = `${Math.min(100, Math.max(0, y.fill_pct))}%`;
    gauge.append(bar);
    const pct = document.createElement("span");
    pct.textContent = formatPct(y.fill_pct);
    li.append(name, gauge, pct);
    li.addEventListener("click", () => select(y.yard_id));
    list.append(li);
  }
  $("yard-count").textContent = String(state.yards.length);
  $("yards-empty").hidden = state.yards.length > 0;
}

/** The forecast: from the last point at the recent inflow until full (at most 1.5× the
 * history's span ahead, so a far-off date does not flatten the curve). */
function forecast(d) {
  const last = d.history.at(-1);
  if (!last || !(d.inflow_m3_per_day > 0) || d.status === "closed") return [];
  const spanDays = Math.max(1, (Date.parse(last.at) - Date.parse(d.history[0].at)) / DAY_MS);
  const toFull = d.days_to_full ?? (d.capacity_m3 - last.fill_m3) / d.inflow_m3_per_day;
  const ahead = Math.min(Math.max(toFull, 0), spanDays * 1.5);
  const end = new Date(Date.parse(last.at) + ahead * DAY_MS).toISOString();
  return [
    { at: last.at, value: last.fill_m3 },
    { at: end, value: Math.min(d.capacity_m3, last.fill_m3 + ahead * d.inflow_m3_per_day) },
  ];
}

function renderDetail(d) {
  $("yard").hidden = false;
  $("curve").hidden = false;
  $("yard").dataset.yardId = String(d.yard_id);
  $("yard-title").textContent = d.name;
  $("yard-status").textContent = term("yard.status", d.status);
  $("yard-status").className = `badge status-${d.status}`;
  fact("fill_pct", formatPct(d.fill_pct));
  fact("fill_m3", t("yard.of", { fill: m3(d.fill_m3), capacity: m3(d.capacity_m3) }));
  fact("remaining_m3", m3(d.remaining_m3));
  fact("capacity_m3", t("yard.capacity", { value: m3(d.capacity_m3) }));
  if (d.days_to_full == null) {
    fact("days_to_full", d.status === "closed" ? t("yard.status.closed") : "—");
    fact("full_on", d.inflow_m3_per_day > 0 ? "" : t("yard.no_inflow"));
  } else {
    fact("days_to_full", t("units.days", { value: formatNumber(Math.round(d.days_to_full * 10) / 10) }));
    const date = formatDateTime(Date.now() + d.days_to_full * DAY_MS, state.zone, { hour: undefined, minute: undefined, second: undefined });
    fact("full_on", t("yard.full_on", { date }));
  }
  fact("inflow", m3(d.inflow_m3_per_day));
  const alert = state.alerts.get(d.yard_id);
  const when = alert ? `${formatDateTime(alert.at, state.zone)} ${zoneLabel(state.zone)}` : "";
  $("yard-alert").textContent = alert ? t("yard.last_alert", { level: alert.level, pct: formatPct(alert.fill_pct), time: when }) : "";
  lineChart($("fill-chart"), d.history.map((h) => ({ at: h.at, value: h.fill_m3 })), {
    forecast: forecast(d),
    limit: d.capacity_m3,
    limitLabel: t("yard.capacity", { value: m3(d.capacity_m3) }),
    timeZone: state.zone,
    names: { fill: t("yard.curve.fill"), forecast: t("yard.curve.forecast") },
  });
}

async function loadList() {
  state.yards = await api("/api/v1/yards/capacity");
  renderList();
}

async function loadDetail() {
  if (!state.selected) return;
  const days = $("days").value;
  const d = await api(`/api/v1/yards/${state.selected}/capacity?days=${days}`);
  state.detail = d;
  renderDetail(d);
  $("yard").dataset.loaded = String(Number($("yard").dataset.loaded || 0) + 1); // for the tests
}

async function select(id) {
  state.selected = id;
  const url = new URL(location.href);
  url.searchParams.set("yard", String(id));
  history.replaceState(null, "", url);
  renderList();
  try {
    await loadDetail();
    showError(null);
  } catch (err) {
    showError(err);
  }
}

async function refresh() {
  try {
    await loadList();
    await loadDetail();
    showError(null);
  } catch (err) {
    showError(err);
  }
}

function onLive(message) {
  const alerts = message.type === "snapshot" ? message.yard_alerts || [] : message.type === "yard_capacity" ? [message] : [];
  for (const a of alerts) state.alerts.set(a.yard_id, a);
  if (message.type === "yard_capacity") refresh();
}

async function start() {
  const token = await ensureToken();
  showUser();
  state.zone = await cityTimeZone();
  if (params.get("days")) $("days").value = params.get("days");
  // the selected yard's ledger of the last year, as the list endpoints' exports give it
  const ledger = () => ({ yard_id: state.selected, since: new Date(Date.now() - 365 * DAY_MS) });
  $("yard-exports").append(exportButton("yard-ledger", ledger), " ", exportButton("yard-ledger", ledger, { format: "xlsx" }));
  $("days").addEventListener("change", () => loadDetail().catch(showError));
  await refresh();
  if (!state.selected && state.yards.length) await select(state.yards[0].yard_id);
  // Capacity alerts reach every live client; vehicles are not asked for (an empty viewport).
  const live = new LiveConnection({ token, onMessage: onLive, onStatus: (s, text) => {
    $("status").dataset.state = s;
    $("status").textContent = text;
  } });
  live.subscription = { type: "subscribe", bbox: [0, 0, 0, 0] };
  live.connect();
  document.body.dataset.ready = "true";
}

start();
