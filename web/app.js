// The live enforcement map: trucks by state, fences, yards with their fill, an incident feed,
// yard capacity alerts and a vehicle panel.
// Configuration by query string: tiles (an XYZ URL template; none = offline blank map),
// crs (wgs84 | gcj02, for AMap/Tencent tiles), roads (a GeoJSON URL), center=lon,lat, zoom.
// The staff token comes from a one-time #token= fragment or the sign-in dialog (token.js).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { displayTransform } from "./geo.js";
import { evidencePanel } from "./evidence.js";
import { LiveConnection } from "./live.js";
import { askToken, takeToken } from "./token.js";
import { vehiclePanel } from "./vehicle.js";
import { yardLayer } from "./yards.js";

const params = new URLSearchParams(location.search);
const config = {
  tiles: params.get("tiles") || localStorage.getItem("tracker.tiles") || "",
  crs: params.get("crs") || "wgs84",
  roads: params.get("roads") ?? "/api/v1/roads",
  center: (params.get("center") || "").split(",").map(Number),
  zoom: Number(params.get("zoom") || 12),
};
const OFFLINE_S = 300;
const INCIDENT_HOLD_S = 600;
const MOVING_KMH = 3;
const geo = displayTransform(config.crs);
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};

const map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([30.66, 104.06], config.zoom);
if (config.tiles) {
  L.tileLayer(config.tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
}
const fenceLayer = L.layerGroup().addTo(map);
const roadLayer = L.layerGroup().addTo(map);
const truckLayer = L.layerGroup().addTo(map);

const trucks = new Map(); // vehicle id -> { data, marker }
const recentIncidents = new Map(); // vehicle id -> epoch ms of its newest incident
let token = takeToken();
let fitted = false;
window.trackerLive = { trucks, map, received: 0 }; // read by the browser tests
const evidence = evidencePanel({ map, api: (path) => api(path), toLatLng });
const panel = vehiclePanel({
  map,
  api: (path) => api(path),
  toLatLng,
  stateOf: (v) => truckState(v),
  labelOf: (drawn) => STATE_LABELS[drawn],
});
const yards = yardLayer({ map, api: (path) => api(path), toLatLng });
// The engine's truck states: how each is drawn, and the label of each drawing; from the API
// (loadStates) before the feed opens.
let ENGINE_STATES = {};
let STATE_LABELS = {};

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
  const style = { radius: 7, weight: 2, color: "#fff", fillOpacity: 0.95, className: `truck truck-${state}` };
  style.fillColor = getComputedStyle(document.documentElement).getPropertyValue(`--${state}`).trim();
  if (held) {
    held.marker.setLatLng(where).setStyle(style);
    held.data = v;
  } else {
    const marker = L.circleMarker(where, style).addTo(truckLayer);
    marker.on("click", () => selectVehicle(v.vehicle_id));
    trucks.set(v.vehicle_id, { data: v, marker });
  }
  const entry = trucks.get(v.vehicle_id);
  entry.marker.bindTooltip(v.plate || `#${v.vehicle_id}`, { direction: "top", offset: [0, -6] });
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
  document.getElementById("truck-count").textContent = String(trucks.size);
}

function onMessage(message) {
  window.trackerLive.received += 1;
  if (message.type === "snapshot") {
    // Keep the markers that stay (no flicker, clicks land), drop those the snapshot lacks.
    const keep = new Set(message.vehicles.map((v) => v.vehicle_id));
    for (const [vid, { marker }] of trucks) {
      if (!keep.has(vid)) {
        marker.remove();
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
  document.getElementById("truck-count").textContent = String(trucks.size);
}

function fitOnce() {
  if (fitted || !trucks.size) return;
  fitted = true; // from now on the subscription follows the viewport (see moveend)
  const bounds = L.latLngBounds([...trucks.values()].map((t) => t.marker.getLatLng()));
  map.fitBounds(bounds.pad(0.3), { maxZoom: 15 });
}

function addIncident(e, fresh) {
  const list = document.getElementById("incidents");
  const key = `${e.type}|${e.vehicle_id}|${e.time}`;
  if (list.querySelector(`[data-key="${CSS.escape(key)}"]`)) return;
  const item = document.createElement("li");
  item.dataset.key = key;
  if (e.incident_id) item.dataset.incidentId = e.incident_id;
  item.className = fresh ? "fresh incident-item" : "incident-item";
  const when = new Date(e.time).toLocaleTimeString();
  const who = e.plate || (e.vehicle_id != null ? `#${e.vehicle_id}` : "");
  item.innerHTML = `<b></b> <span></span><br /><span class="muted"></span>`;
  item.querySelector("b").textContent = e.type.replaceAll("_", " ");
  item.querySelector("span").textContent = who;
  item.querySelector(".muted").textContent = `${when}${e.detail ? ` · ${e.detail}` : ""}`;
  item.addEventListener("click", () => {
    if (e.lon != null) map.setView(toLatLng(e.lon, e.lat), Math.max(map.getZoom(), 15));
    if (e.vehicle_id != null) selectVehicle(e.vehicle_id);
    if (e.incident_id) evidence.open(e.incident_id);
  });
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
  if (e.vehicle_id != null) recentIncidents.set(e.vehicle_id, Date.parse(e.time) || Date.now());
  document.getElementById("incident-count").textContent = String(list.children.length);
  document.getElementById("incidents-empty").hidden = true;
  const truck = trucks.get(e.vehicle_id);
  if (truck) upsertTruck(truck.data);
}

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
  return resp.json();
}

function selectVehicle(vid) {
  const truck = trucks.get(vid);
  return panel.select(truck?.data, vid);
}

function fenceStyle(feature) {
  const role = feature.properties.role;
  const colour = getComputedStyle(document.documentElement).getPropertyValue(`--${role}`).trim() || "#495057";
  return { color: colour, weight: role === "corridor" ? 6 : 2, opacity: 0.7, fillOpacity: 0.15, className: `fence fence-${role}` };
}

async function loadFences() {
  const body = await api("/api/v1/fences");
  fenceLayer.clearLayers();
  const layer = L.geoJSON(body, {
    style: fenceStyle,
    coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat),
    pointToLayer: (f, latlng) => L.circle(latlng, { radius: f.properties.radius_m || 50, ...fenceStyle(f) }),
    onEachFeature: (f, l) => l.bindTooltip(`${f.properties.role}: ${f.properties.name || f.properties.id}`),
  });
  layer.addTo(fenceLayer);
  document.getElementById("fence-count").textContent = String(body.count);
}

async function loadStates() {
  const resp = await fetch("/api/v1/live/states");
  if (!resp.ok) return console.warn(`/api/v1/live/states: ${resp.status}`); // trucks drawn by guess
  const body = await resp.json();
  ENGINE_STATES = Object.fromEntries(body.states.map((s) => [s.state, s.drawn_as]));
  STATE_LABELS = Object.fromEntries(body.states.map((s) => [s.drawn_as, s.label]));
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
  if (!token) token = await askToken();
  if (config.center.length === 2 && !Number.isNaN(config.center[1])) {
    map.setView(toLatLng(config.center[0], config.center[1]), config.zoom);
    fitted = true;
  }
  await loadStates();
  const live = new LiveConnection({ token, onMessage, onStatus: setStatus });
  // Until the map has found the trucks, ask for all of them; then follow the viewport.
  live.subscription = fitted ? { type: "subscribe", ...viewportFilter() } : { type: "subscribe", incident_types: ["*"] };
  live.connect();
  map.on("moveend", () => {
    if (fitted) live.subscribe(viewportFilter());
  });
  setInterval(refreshStates, 15000);
  window.trackerLive.connection = live;
  await Promise.allSettled([loadFences(), loadRoads(), yards.load()]);
}

start();
