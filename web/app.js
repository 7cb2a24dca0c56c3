// The live enforcement map: trucks by state, fences, yards with their fill, an incident feed,
// yard capacity alerts and a vehicle panel.
// The basemap comes from the server's presets (basemap.js; the switch keeps a choice per browser).
// Query string: roads (a GeoJSON URL), center=lon,lat, zoom; tiles=URL&crs=wgs84|gcj02|bd09 for
// custom tiles.
// The staff token comes from signing in (token.js) or a one-time #token= fragment. Words come
// from web/locales/map.js; times are shown in the city's zone, labelled.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { alarms } from "./alarms.js";
import { api, ensureToken, signInAgain } from "./common.js";
import { chooseBasemap } from "./basemap.js";
import { evidencePanel } from "./evidence.js";
import { exportButton } from "./exports.js";
import { formatDateTime, formatTime, register, t, term } from "./i18n.js";
import { LiveConnection } from "./live.js";
import words from "./locales/map.js";
import { cityTimeZone, mountShell, showUser, zoneLabel } from "./shell.js";
import { vehiclePanel } from "./vehicle.js";
import { yardLayer } from "./yards.js";

register(words);
mountShell({ page: "map", title: "map.title" });

const params = new URLSearchParams(location.search);
const config = {
  roads: params.get("roads") ?? "/api/v1/roads",
  center: (params.get("center") || "").split(",").map(Number),
  zoom: Number(params.get("zoom") || 12),
};
const OFFLINE_S = 300;
const INCIDENT_HOLD_S = 600;
const MOVING_KMH = 3;
const basemap = await chooseBasemap(params);
const geo = basemap.transform; // WGS-84 <-> the basemap's system
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};

const map = L.map("map", { zoomControl: true, preferCanvas: false, crs: basemap.crs }).setView([30.66, 104.06], config.zoom);
const fenceLayer = L.layerGroup().addTo(map);
const roadLayer = L.layerGroup().addTo(map);
const truckLayer = L.layerGroup().addTo(map);
basemap.addTo(map, { onFallback: () => loadRoads().catch(() => {}) }); // roads: no tiles, or unreachable

const trucks = new Map(); // vehicle id -> { data, marker }
const recentIncidents = new Map(); // vehicle id -> epoch ms of its newest incident
const companies = new Map(); // company id -> name
const fenceNames = new Map(); // fence id -> name
const view = { zone: "Asia/Shanghai", company: "" }; // the city's zone; the company filter
let fitted = false;
window.trackerLive = { trucks, map, received: 0, view, basemap: basemap.preset.id, geo }; // read by the browser tests
const yards = yardLayer({ map, api, toLatLng, zone: () => view.zone });
const names = {
  company: (id) => (id == null ? "—" : companies.get(id) || t("map.company.unknown", { id })),
  yard: (id) => yards.yards.get(Number(id))?.figures.name || t("yard.unnamed", { id }),
  plate: (vid) => trucks.get(vid)?.data.plate || t("map.vehicle", { id: vid }),
  time: (iso) => (iso ? formatTime(iso, view.zone) : "—"),
  dateTime: (iso) => formatDateTime(iso, view.zone),
  zone: () => zoneLabel(view.zone),
  fence: (id) => fenceNames.get(String(id)) || String(id),
};
const evidence = evidencePanel({ map, api, toLatLng, names });
const panel = vehiclePanel({ map, api, toLatLng, stateOf: (v) => truckState(v), names });
const alarm = alarms();
// The engine's truck states and how each is drawn; from the API (loadStates) before the feed
// opens. Their labels come from the catalog (truck.state.<drawn>).
let ENGINE_STATES = {};

/** What a truck is doing: the engine's state when it has published one (a blacklisted truck
 * stays so, a suspected one too; no fix for 5 min is offline whatever else the engine last
 * said), else a guess from the fix (speed, load) and the incident feed. */
function truckState(v, now = Date.now()) {
  const engine = ENGINE_STATES[v.state];
  // Suspected: the engine saw a loaded silence it does not yet report as offline.
  if (engine === "blacklisted" || engine === "suspected") return engine;
  const ageS = (now - Date.parse(v.time)) / 1000;
  if (ageS > OFFLINE_S) return "offline";
  if (engine) return engine;
  const incidentAt = recentIncidents.get(v.vehicle_id);
  if (incidentAt && now - incidentAt < INCIDENT_HOLD_S * 1000) return "incident";
  if ((v.speed_kmh ?? 0) >= MOVING_KMH) return v.loaded ? "hauling" : "moving";
  return "idle";
}

function upsertTruck(v) {
  const held = trucks.get(v.vehicle_id);
  if (held && Date.parse(held.data.time) > Date.parse(v.time)) return; // late: keep the newer
  const state = truckState(v);
  const where = toLatLng(v.lon, v.lat);
  const shown = !view.company || String(v.company_id) === view.company;
  const style = { radius: 7, weight: 2, color: "#fff", fillOpacity: 0.95, className: `truck truck-${state}` };
  style.fillColor = getComputedStyle(document.documentElement).getPropertyValue(`--${state}`).trim();
  if (held) {
    held.marker.setLatLng(where).setStyle(style);
    held.data = v;
  } else {
    const marker = L.circleMarker(where, style);
    marker.on("click", () => selectVehicle(v.vehicle_id));
    trucks.set(v.vehicle_id, { data: v, marker });
    addPlate(v.plate);
  }
  const entry = trucks.get(v.vehicle_id);
  if (shown && !truckLayer.hasLayer(entry.marker)) entry.marker.addTo(truckLayer);
  if (!shown && truckLayer.hasLayer(entry.marker)) truckLayer.removeLayer(entry.marker);
  entry.marker.bindTooltip(v.plate || t("map.vehicle", { id: v.vehicle_id }), { direction: "top", offset: [0, -6] });
  const path = entry.marker.getElement?.();
  if (path) {
    // Leaflet applies className only when a path is created: keep the state class current.
    path.classList.remove(...[...path.classList].filter((c) => c.startsWith("truck-")));
    path.classList.add(`truck-${state}`);
    path.dataset.vehicleId = String(v.vehicle_id);
    path.dataset.state = state;
  }
  panel.update(v);
}

function refreshStates() {
  for (const { data } of trucks.values()) upsertTruck(data);
  countTrucks();
}

function countTrucks() {
  document.getElementById("truck-count").textContent = String(truckLayer.getLayers().length);
}

function onMessage(message) {
  window.trackerLive.received += 1;
  if (message.type === "snapshot") {
    // Keep the markers that stay (no flicker, clicks land), drop those the snapshot lacks.
    const keep = new Set(message.vehicles.map((v) => v.vehicle_id));
    for (const [vid, { marker }] of trucks) {
      if (!keep.has(vid)) {
        truckLayer.removeLayer(marker);
        trucks.delete(vid);
      }
    }
    message.vehicles.forEach(upsertTruck);
    message.incidents.forEach((e) => addIncident(e, false));
    (message.yard_alerts || []).forEach((a) => yards.alert(a));
    fitOnce();
  } else if (message.type === "fixes") {
    message.vehicles.forEach(upsertTruck);
    fitOnce();
  } else if (message.type === "incident") {
    addIncident(message.incident, true);
  } else if (message.type === "yard_capacity") {
    yards.alert(message);
  } else if (message.type === "fences_changed") {
    loadFences();
    yards.load();
  }
  countTrucks();
}

function fitOnce() {
  if (fitted || !trucks.size) return;
  fitted = true; // from now on the subscription follows the viewport (see moveend)
  const bounds = L.latLngBounds([...trucks.values()].map((x) => x.marker.getLatLng()));
  map.fitBounds(bounds.pad(0.3), { maxZoom: 15 });
}

function addIncident(e, fresh) {
  const list = document.getElementById("incidents");
  const key = `${e.type}|${e.vehicle_id}|${e.time}`;
  if (list.querySelector(`[data-key="${CSS.escape(key)}"]`)) return;
  const item = document.createElement("li");
  item.dataset.key = key;
  item.dataset.type = e.type;
  if (e.incident_id) item.dataset.incidentId = e.incident_id;
  if (e.vehicle_id != null) item.dataset.vehicleId = String(e.vehicle_id);
  const truck = trucks.get(e.vehicle_id);
  const companyId = e.company_id ?? truck?.data.company_id;
  if (companyId != null) item.dataset.companyId = String(companyId);
  item.hidden = Boolean(view.company) && item.dataset.companyId !== view.company;
  item.className = fresh ? "fresh incident-item" : "incident-item";
  const when = `${names.time(e.time)} ${names.zone()}`;
  const who = e.plate || (e.vehicle_id != null ? names.plate(e.vehicle_id) : "");
  item.innerHTML = `<b></b> <span></span><br /><span class="muted"></span>`;
  item.querySelector("b").textContent = term("incident.type", e.type);
  item.querySelector("span").textContent = who;
  item.querySelector(".muted").textContent = `${when}${e.detail ? ` · ${e.detail}` : ""}`;
  item.addEventListener("click", () => {
    if (e.lon != null) map.setView(toLatLng(e.lon, e.lat), Math.max(map.getZoom(), 15));
    if (e.vehicle_id != null) selectVehicle(e.vehicle_id);
    if (e.incident_id) evidence.open(e.incident_id);
    showTab("panel");
  });
  if (fresh && !item.hidden) alarm.raise(e, who);
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
  if (e.vehicle_id != null) recentIncidents.set(e.vehicle_id, Date.parse(e.time) || Date.now());
  countIncidents();
  document.getElementById("incidents-empty").hidden = true;
  if (truck) upsertTruck(truck.data);
}

function countIncidents() {
  const shown = document.querySelectorAll("#incidents li:not([hidden])").length;
  document.getElementById("incident-count").textContent = String(shown);
}

function selectVehicle(vid) {
  const truck = trucks.get(vid);
  showTab("panel");
  return panel.select(truck?.data, vid);
}

/** Phones show one panel of the sheet under the map at a time (the tabs); desktops all. */
function showTab(tab) {
  document.body.dataset.tab = tab;
  for (const b of document.querySelectorAll(".sheet-tabs [data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  document.getElementById("panel-empty").hidden = !(document.getElementById("vehicle").hidden && document.getElementById("evidence").hidden);
  map.invalidateSize();
}

const plates = new Set();
function addPlate(plate) {
  if (!plate || plates.has(plate)) return;
  plates.add(plate);
  document.getElementById("plates").append(new Option(plate));
}

/** Plate search: the trucks whose plate holds the text (any case; spaces, dashes and dots
 * ignored); the first is centred and selected. */
const plateKey = (text) => text.replace(/[\s\-·.]+/g, "").toUpperCase();
function findPlate(text) {
  const wanted = plateKey(text);
  const result = document.getElementById("plate-result");
  if (!wanted) return;
  const found = [...trucks.values()].filter((x) => plateKey(x.data.plate || "").includes(wanted));
  if (!found.length) {
    result.textContent = t("map.plate.none", { plate: text });
    return;
  }
  const first = found[0].data;
  result.textContent = found.length > 1 ? t("map.plate.many", { count: found.length }) : t("map.plate.found", { plate: first.plate });
  if (view.company && String(first.company_id) !== view.company) setCompany("");
  map.setView(toLatLng(first.lon, first.lat), Math.max(map.getZoom(), 16));
  selectVehicle(first.vehicle_id);
}

function setCompany(value) {
  view.company = value;
  document.getElementById("company-filter").value = value;
  for (const { data } of trucks.values()) upsertTruck(data);
  for (const li of document.querySelectorAll("#incidents li")) li.hidden = Boolean(value) && li.dataset.companyId !== value;
  countIncidents();
  countTrucks();
}

async function loadCompanies() {
  try {
    for (const c of await api("/api/v1/companies?limit=1000")) companies.set(c.id, c.name);
  } catch {
    return; // a company user may not list companies: its own trucks only, no filter needed
  }
  const select = document.getElementById("company-filter");
  for (const [id, name] of [...companies].sort((a, b) => a[1].localeCompare(b[1], "zh-CN"))) select.append(new Option(name, String(id)));
}

function wireControls() {
  for (const b of document.querySelectorAll(".sheet-tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  document.getElementById("plate-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    findPlate(document.getElementById("plate-search").value.trim());
  });
  document.getElementById("company-filter").addEventListener("change", (ev) => setCompany(ev.target.value));
  // the incidents of the chosen company (or all) over the export's default period (30 days)
  const shown = () => ({ company_id: view.company || null });
  document.getElementById("incident-exports").append(exportButton("incidents", shown), " ", exportButton("incidents", shown, { format: "xlsx" }));
  for (const id of ["vehicle-close", "evidence-close"]) document.getElementById(id).addEventListener("click", () => showTab(document.body.dataset.tab));
}

function fenceStyle(feature) {
  const role = feature.properties.role;
  const colour = getComputedStyle(document.documentElement).getPropertyValue(`--${role}`).trim() || "#495057";
  return { color: colour, weight: role === "corridor" ? 6 : 2, opacity: 0.7, fillOpacity: 0.15, className: `fence fence-${role}` };
}

async function loadFences() {
  const body = await api("/api/v1/fences");
  fenceLayer.clearLayers();
  for (const f of body.features ?? []) if (f.properties.name) fenceNames.set(String(f.properties.id), f.properties.name);
  const layer = L.geoJSON(body, {
    style: fenceStyle,
    coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat),
    pointToLayer: (f, latlng) => L.circle(latlng, { radius: f.properties.radius_m || 50, ...fenceStyle(f) }),
    onEachFeature: (f, l) => l.bindTooltip(t("map.fence.tooltip", { role: term("fence", f.properties.role), name: f.properties.name || f.properties.id })),
  });
  layer.addTo(fenceLayer);
  document.getElementById("fence-count").textContent = String(body.count);
}

async function loadStates() {
  const resp = await fetch("/api/v1/live/states");
  if (!resp.ok) return console.warn(`/api/v1/live/states: ${resp.status}`); // trucks drawn by guess
  const body = await resp.json();
  ENGINE_STATES = Object.fromEntries(body.states.map((s) => [s.state, s.drawn_as]));
}

async function loadRoads() {
  if (!config.roads) return;
  const resp = await fetch(config.roads);
  if (!resp.ok) return; // no road network imported: the map works without it
  const body = await resp.json();
  L.geoJSON(body, {
    style: { color: "#adb5bd", weight: 2, interactive: false },
    coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat),
  }).addTo(roadLayer);
  window.trackerLive.roadsDrawn = true;
}

function viewportFilter() {
  const b = map.getBounds();
  const [w, s] = geo.unshow(Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90));
  const [e, n] = geo.unshow(Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90));
  return { bbox: [w, s, e, n], incident_types: ["*"] };
}

function setStatus(state, text) {
  const el = document.getElementById("status");
  el.dataset.state = state;
  el.textContent = text;
}

async function start() {
  wireControls();
  showTab("feed");
  const token = await ensureToken();
  showUser();
  if (config.center.length === 2 && !Number.isNaN(config.center[1])) {
    map.setView(toLatLng(config.center[0], config.center[1]), config.zoom);
    fitted = true;
  }
  // what the feed's first messages are drawn with, asked for at once
  await Promise.all([cityTimeZone().then((zone) => (view.zone = zone)), loadCompanies(), loadStates()]);
  const live = new LiveConnection({ token, onMessage, onStatus: setStatus });
  live.onStatus = (state, text) => {
    setStatus(state, text);
    if (state !== "error") return;
    signInAgain().then((fresh) => {
      live.token = fresh; // the feed refused the token: sign in, then reconnect with the new one
      live.connect();
    });
  };
  // Until the map has found the trucks, ask for all of them; then follow the viewport.
  live.subscription = fitted ? { type: "subscribe", ...viewportFilter() } : { type: "subscribe", incident_types: ["*"] };
  live.connect();
  map.on("moveend", () => {
    if (fitted) live.subscribe(viewportFilter());
  });
  setInterval(refreshStates, 15000);
  window.trackerLive.connection = live;
  await Promise.allSettled([loadFences(), yards.load()]);
}

start();
