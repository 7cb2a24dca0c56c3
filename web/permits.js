// The permit page: list permits, draw one's sites, yards and corridors, propose a corridor on
// the roads, submit, approve or reject. Basemap: basemap.js (tiles=URL&crs=wgs84|gcj02|bd09 for
// custom tiles); query string: roads. The staff token comes from a one-time #token= fragment or
// the sign-in dialog (token.js).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { chooseBasemap } from "./basemap.js";
import { corridorDrawer } from "./draw.js";
import { askToken, takeToken } from "./token.js";

const params = new URLSearchParams(location.search);
const config = {
  roads: params.get("roads") ?? "/api/v1/roads",
};
const basemap = await chooseBasemap(params);
const geo = basemap.transform; // WGS-84 <-> the basemap's system: drawn corridors are stored in WGS-84
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};
const coordsToLatLng = ([lon, lat]) => toLatLng(lon, lat);
const $ = (id) => document.getElementById(id);

const map = L.map("map", { zoomControl: true, crs: basemap.crs }).setView([43.735, 7.42], 14);
basemap.addTo(map);
const roadLayer = L.layerGroup().addTo(map);
const permitLayer = L.layerGroup().addTo(map);
const proposalLayer = L.layerGroup().addTo(map);

let token = takeToken();
const state = { permits: [], permit: null, proposal: null, companies: new Map() };
const fromLatLng = (latlng) => geo.unshow(latlng.lng, latlng.lat);
const drawer = corridorDrawer({ map, toLatLng, fromLatLng });
window.trackerPermits = { map, state, drawer, basemap: basemap.preset.id, geo }; // read by the browser tests

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function colour(role) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${role}`).trim() || "#495057";
}

function style(role, extra = {}) {
  const weight = role === "corridor" || role === "proposal" ? 6 : 2;
  return { color: colour(role), weight, opacity: 0.75, fillOpacity: 0.15, className: `fence fence-${role}`, ...extra };
}

function draw(layer, geometry, role, label, extra) {
  return L.geoJSON(geometry, { style: style(role, extra), coordsToLatLng })
    .bindTooltip(label)
    .addTo(layer);
}

function companyName(id) {
  return state.companies.get(id) || `company #${id}`;
}

function renderList() {
  const list = $("permits");
  list.replaceChildren();
  for (const p of state.permits) {
    const item = document.createElement("li");
    item.className = "permit-item";
    item.dataset.permitId = String(p.id);
    item.dataset.state = p.state;
    if (state.permit?.id === p.id) item.classList.add("selected");
    const title = document.createElement("b");
    title.textContent = `Permit #${p.id}`;
    const badge = document.createElement("span");
    badge.className = `badge state-${p.state}`;
    badge.textContent = p.state;
    const who = document.createElement("span");
    who.className = "muted";
    who.textContent = `${companyName(p.company_id)} · ${p.valid_from} → ${p.valid_to}`;
    item.append(title, " ", badge, document.createElement("br"), who);
    item.addEventListener("click", () => selectPermit(p.id));
    list.append(item);
  }
  $("permit-count").textContent = String(state.permits.length);
  $("permits-empty").hidden = state.permits.length > 0;
}

async function loadPermits() {
  state.permits = await api("/api/v1/permits?limit=1000");
  state.permits.sort((a, b) => b.id - a.id);
  renderList();
}

async function loadCompanies() {
  try {
    for (const c of await api("/api/v1/companies?limit=1000")) state.companies.set(c.id, c.name);
  } catch {
    // names are a nicety: ids are shown without them
  }
}

function showMessage(text, refusals = [], kind = "error") {
  const box = $("message");
  box.hidden = false;
  box.className = `message message-${kind}`;
  $("message-text").textContent = text;
  const list = $("refusals");
  list.replaceChildren();
  for (const r of refusals) {
    const li = document.createElement("li");
    li.dataset.code = r.code;
    const code = document.createElement("code");
    code.textContent = r.code;
    li.append(code, ` ${r.message}`);
    if (r.field) {
      const field = document.createElement("span");
      field.className = "muted";
      field.textContent = ` (${r.field})`;
      li.append(field);
    }
    list.append(li);
  }
}

function clearMessage() {
  $("message").hidden = true;
}

function showError(err) {
  if (err instanceof ApiError && err.body?.error === "permit_refused") {
    showMessage("Approval refused:", err.body.details || []);
  } else if (err instanceof ApiError && Array.isArray(err.body?.details)) {
    showMessage(`${err.message} (${err.status})`, err.body.details.filter((d) => d.code));
  } else {
    showMessage(err instanceof ApiError ? `${err.message} (${err.status})` : String(err));
  }
}

function renderPermit(p) {
  $("permit").hidden = false;
  $("permit").dataset.state = p.state;
  $("permit-title").textContent = `Permit #${p.id}`;
  $("permit-state").textContent = p.state;
  $("permit-state").className = `badge state-${p.state}`;
  const facts = {
    company: companyName(p.company_id),
    vehicles: p.vehicle_ids.map((v) => `#${v}`).join(", "),
    sites: p.site_ids.map((v) => `#${v}`).join(", "),
    yards: p.yard_ids.map((v) => `#${v}`).join(", "),
    corridors: p.corridors.map((c) => `±${c.half_width_m} m`).join(", ") || "none",
    valid: `${p.valid_from} → ${p.valid_to}`,
    // local wall-clock times of the city, labelled with its zone (GET /api/v1/config)
    windows: `${p.windows.map((w) => `${w.start}–${w.end}`).join(", ")} (${basemap.timeZone})`,
    quota: `${p.quota_m3} m³`,
  };
  if (p.note) facts.note = p.note;
  if (p.reason) facts.reason = p.reason;
  const dl = $("permit-facts");
  dl.replaceChildren();
  for (const [k, value] of Object.entries(facts)) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = value;
    dl.append(dt, dd);
  }
  for (const el of document.querySelectorAll("#permit [data-for]")) {
    el.hidden = !el.dataset.for.split(" ").includes(p.state);
  }
  $("accept-proposal").hidden = !(state.proposal && ["draft", "rejected"].includes(p.state));
}

async function drawPermit(p) {
  permitLayer.clearLayers();
  const places = await Promise.allSettled([
    ...p.site_ids.map((id) => api(`/api/v1/sites/${id}`).then((s) => ["site", s])),
    ...p.yard_ids.map((id) => api(`/api/v1/yards/${id}`).then((y) => ["yard", y])),
  ]);
  for (const r of places) {
    if (r.status !== "fulfilled") continue;
    const [role, place] = r.value;
    draw(permitLayer, place.geometry, role, `${role}: ${place.name}`);
  }
  p.corridors.forEach((c, i) => draw(permitLayer, c.geometry, "corridor", `corridor ${i + 1} (±${c.half_width_m} m)`));
  const bounds = L.featureGroup([...permitLayer.getLayers(), ...proposalLayer.getLayers()]).getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: 17 });
}

async function selectPermit(id, { keepMessage = false } = {}) {
  if (state.permit?.id !== id) {
    drawer.stop();
    state.proposal = null;
    proposalLayer.clearLayers();
    $("proposal").hidden = true;
  }
  if (!keepMessage) clearMessage();
  try {
    state.permit = await api(`/api/v1/permits/${id}`);
  } catch (err) {
    showError(err);
    return;
  }
  delete $("permit").dataset.drawn;
  renderPermit(state.permit);
  renderList();
  await drawPermit(state.permit);
  $("permit").dataset.drawn = String(id); // the map shows this permit (read by the tests)
}

function permitBody(p, corridors) {
  return {
    company_id: p.company_id,
    vehicle_ids: p.vehicle_ids,
    site_ids: p.site_ids,
    yard_ids: p.yard_ids,
    corridors: corridors.map((c) => ({ geometry: c.geometry, half_width_m: c.half_width_m })),
    valid_from: p.valid_from,
    valid_to: p.valid_to,
    windows: p.windows,
    quota_m3: p.quota_m3,
    note: p.note,
  };
}

/** Run an action on the selected permit, then show the permit as it now stands. */
async function act(action, success) {
  const p = state.permit;
  if (!p) return;
  const buttons = document.querySelectorAll("#permit button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await action(p);
    await loadPermits();
    await selectPermit(p.id);
    if (success) showMessage(success, [], "ok");
  } catch (err) {
    showError(err);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function propose(p) {
  const ask = {
    site_id: p.site_ids[0],
    yard_id: p.yard_ids[0],
    half_width_m: p.corridors[0]?.half_width_m ?? 50,
    windows: p.windows,
  };
  const found = await api("/api/v1/permits/propose-corridor", { method: "POST", body: ask });
  state.proposal = found;
  proposalLayer.clearLayers();
  draw(proposalLayer, found.geometry, "proposal", "proposed corridor", { dashArray: "8 6" });
  const avoided = found.avoided_zone_ids.length ? ` · avoids zones ${found.avoided_zone_ids.map((z) => `#${z}`).join(", ")}` : "";
  $("proposal").hidden = false;
  $("proposal").textContent =
    `Proposal: ${Math.round(found.length_m)} m on the roads, ±${found.half_width_m} m` +
    ` · gaps ${found.start_gap_m} m / ${found.end_gap_m} m${avoided}`;
}

function wire() {
  $("permits-reload").addEventListener("click", () => loadPermits().catch(showError));
  $("propose").addEventListener("click", () => act(propose));
  $("accept-proposal").addEventListener("click", () =>
    act(async (p) => {
      const body = permitBody(p, [state.proposal]);
      await api(`/api/v1/permits/${p.id}`, { method: "PUT", body });
      state.proposal = null;
      proposalLayer.clearLayers();
      $("proposal").hidden = true;
    }, "The proposed corridor is now the permit's corridor."),
  );
  $("submit").addEventListener("click", () =>
    act((p) => api(`/api/v1/permits/${p.id}/submit`, { method: "POST" }), "Submitted for approval."),
  );
  $("approve").addEventListener("click", () =>
    act((p) => api(`/api/v1/permits/${p.id}/approve`, { method: "POST" }), "Approved."),
  );
  $("draw-start").addEventListener("click", () => {
    clearMessage();
    drawer.start(state.permit?.corridors[0]?.half_width_m);
  });
  $("draw-cancel").addEventListener("click", () => drawer.stop());
  $("draw-save").addEventListener("click", () =>
    act(async (p) => {
      await api(`/api/v1/permits/${p.id}`, { method: "PUT", body: permitBody(p, [drawer.corridor()]) });
      drawer.stop();
    }, "The drawn corridor is now the permit's corridor."),
  );
  $("reject-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const reason = $("reject-reason").value.trim();
    act((p) => api(`/api/v1/permits/${p.id}/reject`, { method: "POST", body: { reason } }), "Rejected.").then(
      () => ($("reject-reason").value = ""),
    );
  });
}

async function loadRoads() {
  if (!config.roads) return;
  const resp = await fetch(config.roads);
  if (!resp.ok) return; // no road network imported: the page works without it
  L.geoJSON(await resp.json(), { style: { color: "#adb5bd", weight: 2, interactive: false }, coordsToLatLng }).addTo(roadLayer);
}

async function start() {
  if (!token) token = await askToken();
  wire();
  loadRoads().catch(() => {});
  await loadCompanies();
  try {
    await loadPermits();
  } catch (err) {
    showError(err);
  }
  const wanted = Number(params.get("permit"));
  if (wanted) await selectPermit(wanted);
  document.body.dataset.ready = "true";
}

start();
