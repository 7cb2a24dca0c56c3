// The fleet KPI dashboard: GET /api/v1/kpi drawn as figures and bars. Query string:
// hours (window length, default 24), from and to (RFC 3339; override hours), company_id.
import { $, api, ensureToken, number, params, pct } from "./common.js";
import { columnChart } from "./chart.js";

const REFRESH_MS = 60_000;
const state = { companies: new Map(), last: null, custom: Boolean(params.get("from") || params.get("to")) };
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
  set("online_of", `${number(f.online)} of ${number(f.registered)} online (fix in ${f.online_window_min} min)`);
  set("install_rate", pct(f.install_rate));
  set("install_of", `${number(f.with_terminal)} of ${number(f.registered)} with a terminal`);
  set("quality_rate", pct(q.quality_rate, 2));
  set("track_completeness", pct(q.track_completeness, 2));
  set("gaps", `${number(q.gaps)} gap${q.gaps === 1 ? "" : "s"} (> ${q.gap_s} s while moving) · ${Math.round(q.gap_time_s / 60)} min missing`);
  set("drift_share", pct(q.drift_share, 2));
  set("fixes", number(q.fixes));
  const interval = q.mean_fix_interval_s == null ? "—" : `${q.mean_fix_interval_s} s`;
  set("fix_rate", `${q.reporting_vehicles} trucks · ${q.fixes_per_vehicle_h ?? "—"} fixes/h each · every ${interval}`);
  set("invalid_share", pct(q.invalid_share, 2));
  set("filtered_share", `invalid · ${pct(q.filtered_share, 2)} filtered`);
  set("trips_completed", number(k.trips.completed));
  set("trips_detail", `${number(k.trips.to_yard)} at a yard · ${number(k.trips.elsewhere)} elsewhere · ${number(Math.round(k.trips.volume_m3))} m³`);
  set("incidents_total", number(k.incidents.total));
  $("bucket").textContent = `per ${q.bucket}`;
  columnChart(
    $("fixes-chart"),
    q.by_time.map((b) => ({
      at: b.at,
      marks: b.gaps,
      parts: [
        { value: b.fixes - b.filtered, className: "bar-good", name: "good" },
        { value: b.filtered, className: "bar-filtered", name: "filtered or invalid" },
      ],
    })),
  );
  bars("by-type", k.incidents.by_type, (r) => r.type.replaceAll("_", " "));
  bars("by-company", k.incidents.by_company, (r) => r.name || (r.company_id == null ? "unknown" : `company #${r.company_id}`));
  const span = `${k.from.slice(0, 16).replace("T", " ")} → ${k.to.slice(0, 16).replace("T", " ")} UTC · ${k.query_ms} ms`;
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
    $("error").textContent = `KPIs unavailable: ${err.message}`;
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
  if (params.get("hours")) $("window").value = params.get("hours");
  if (state.custom) {
    $("window").prepend(new Option("as linked", "custom", true, true));
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
