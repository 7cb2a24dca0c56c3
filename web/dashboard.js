// The fleet KPI dashboard: GET /api/v1/kpi drawn as figures and bars. Query string:
// hours (window length, default 24), from and to (RFC 3339; override hours), company_id.
import { $, api, ensureToken, params, pct } from "./common.js";
import { columnChart } from "./chart.js";
import { errorText, formatDateTime, formatNumber, register, t, term } from "./i18n.js";
import words from "./locales/dashboard.js";
import { cityTimeZone, mountShell, showUser, zoneLabel } from "./shell.js";

register(words);
mountShell({ page: "dashboard", title: "kpi.title" });
const number = (value) => formatNumber(value);

const REFRESH_MS = 60_000;
const state = { companies: new Map(), last: null, custom: Boolean(params.get("from") || params.get("to")), zone: "Asia/Shanghai" };
window.trackerDashboard = state; // read by the browser tests

function set(name, text) {
  const node = document.querySelector(`[data-kpi="${name}"]`);
  if (node) node.textContent = text;
}

function query() {
  const q = new URLSearchParams();
  const hours = Number($("window").value) || 24;
  const to = state.custom ? params.get("to") : null;
  const from = state.custom ? params.get("from") : null;
  if (to) q.set("to", to);
  if (from) q.set("from", from);
  else if (to) q.set("from", new Date(Date.parse(to) - hours * 3600e3).toISOString());
  else q.set("from", new Date(Date.now() - hours * 3600e3).toISOString());
  if ($("company").value) q.set("company_id", $("company").value);
  return q;
}

function bars(listId, rows, labelOf) {
  const list = $(listId);
  list.replaceChildren();
  const max = Math.max(1, ...rows.map((r) => r.count));
  for (const r of rows) {
    const li = document.createElement("li");
    li.className = "bar";
    li.dataset.label = labelOf(r);
    li.dataset.count = String(r.count);
    const name = document.createElement("span");
    name.className = "bar-label";
    name.textContent = labelOf(r);
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${(r.count / max) * 100}%`;
    track.append(fill);
    const value = document.createElement("b");
    value.textContent = number(r.count);
    li.append(name, track, value);
    list.append(li);
  }
  $(`${listId}-empty`).hidden = rows.length > 0;
}

function render(k) {
  const f = k.fleet;
  const q = k.data_quality;
  set("online_rate", pct(f.online_rate));
  set("online_of", t("kpi.online_of", { online: number(f.online), registered: number(f.registered), min: f.online_window_min }));
  set("install_rate", pct(f.install_rate));
  set("install_of", t("kpi.install_of", { with: number(f.with_terminal), registered: number(f.registered) }));
  set("quality_rate", pct(q.quality_rate, 2));
  set("track_completeness", pct(q.track_completeness, 2));
  set("gaps", t("kpi.gaps_text", { gaps: number(q.gaps), gap_s: q.gap_s, min: number(Math.round(q.gap_time_s / 60)) }));
  set("drift_share", pct(q.drift_share, 2));
  set("fixes", number(q.fixes));
  const interval = q.mean_fix_interval_s == null ? "—" : t("kpi.seconds", { value: number(q.mean_fix_interval_s) });
  set("fix_rate", t("kpi.fix_rate", { trucks: number(q.reporting_vehicles), per_h: number(q.fixes_per_vehicle_h), interval }));
  set("invalid_share", pct(q.invalid_share, 2));
  set("filtered_share", t("kpi.filtered_share", { pct: pct(q.filtered_share, 2) }));
  set("trips_completed", number(k.trips.completed));
  const volume = t("units.m3", { value: number(Math.round(k.trips.volume_m3)) });
  set("trips_detail", t("kpi.trips_detail", { to_yard: number(k.trips.to_yard), elsewhere: number(k.trips.elsewhere), volume }));
  set("incidents_total", number(k.incidents.total));
  const [n, unit] = String(q.bucket).split(" ");
  const bucket = t(`kpi.unit.${unit.replace(/s$/, "")}`, { n });
  $("bucket").textContent = t("kpi.bucket", { bucket: bucket.startsWith("kpi.") ? q.bucket : bucket });
  columnChart(
    $("fixes-chart"),
    q.by_time.map((b) => ({
      at: b.at,
      marks: b.gaps,
      parts: [
        { value: b.fixes - b.filtered, color: "#4c6ef5", name: t("kpi.good") },
        { value: b.filtered, color: "#fa5252", name: t("kpi.filtered") },
      ],
    })),
    { timeZone: state.zone, marksName: t("kpi.gaps") },
  );
  bars("by-type", k.incidents.by_type, (r) => term("incident.type", r.type));
  bars("by-company", k.incidents.by_company, (r) => r.name || t("kpi.company.unknown"));
  const short = { second: undefined };
  const span = t("kpi.span", {
    from: formatDateTime(k.from, state.zone, short),
    to: formatDateTime(k.to, state.zone, short),
    zone: zoneLabel(state.zone),
    ms: number(k.query_ms),
  });
  $("span").textContent = span;
}

async function load() {
  const board = $("board");
  board.setAttribute("aria-busy", "true");
  try {
    const k = await api(`/api/v1/kpi?${query()}`);
    state.last = k;
    render(k);
    $("error").hidden = true;
    board.dataset.loaded = String(Number(board.dataset.loaded || 0) + 1); // read by the tests
  } catch (err) {
    $("error").hidden = false;
    const why = err.body ? errorText(err.body, err.status) : err.message;
    $("error").textContent = t("kpi.unavailable", { error: why });
  } finally {
    board.setAttribute("aria-busy", "false");
  }
}

async function loadCompanies() {
  try {
    for (const c of await api("/api/v1/companies?limit=1000")) state.companies.set(c.id, c.name);
  } catch {
    return; // a company user may not list companies: the filter stays "all" (its own)
  }
  const select = $("company");
  for (const [id, name] of state.companies) select.append(new Option(name, String(id)));
}

async function start() {
  await ensureToken();
  showUser();
  state.zone = await cityTimeZone();
  if (params.get("hours")) $("window").value = params.get("hours");
  if (state.custom) {
    $("window").prepend(new Option(t("kpi.window.custom"), "custom", true, true));
  }
  await loadCompanies();
  if (params.get("company_id")) $("company").value = params.get("company_id");
  $("controls").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  $("window").addEventListener("change", () => {
    state.custom = $("window").value === "custom";
    load();
  });
  $("company").addEventListener("change", load);
  await load();
  setInterval(load, REFRESH_MS);
}

start();
