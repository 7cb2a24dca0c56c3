// Track replay: any truck and period (entered in the city's local time) over
// GET /api/v1/vehicles/{id}/track (following its `next` pages), drawn on the map and played back
// with play / pause, a speed (fix time per wall-clock second) and a slider over the fixes.
// The truck's checkpoint sightings in the period (GET /api/v1/sightings) are drawn as square
// markers, even when the terminal sent nothing (a silent terminal is what they reveal).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { displayTransform } from "./geo.js";
import { $, api, checkForm, cityTimeZone, el, instantToLocal, localToInstant, notice, showApiError, startPage, zoneLabel } from "./forms-api.js";
import { exportButton } from "./exports.js";
import { formatDateTime, formatNumber, t } from "./i18n.js";

const MAX_POINTS = 50_000;
const TICK_MS = 100;
const params = new URLSearchParams(location.search);
const form = $("replay-form");
const geo = displayTransform(params.get("crs") || "wgs84");
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};
const map = L.map("map").setView([30.66, 104.06], 12);
const tiles = params.get("tiles") || localStorage.getItem("tracker.tiles") || "";
if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
const layer = L.layerGroup().addTo(map);
const state = { vehicles: [], points: [], times: [], sightings: [], index: 0, timer: null, clock: 0, timeZone: "Asia/Shanghai", cursor: null };
window.trackerReplay = state; // read by the browser tests

function fillVehicles(filter = "") {
  const select = form.elements.vehicle_id;
  const chosen = select.value;
  const wanted = filter.trim().toUpperCase();
  const shown = state.vehicles.filter((v) => !wanted || v.plate.toUpperCase().includes(wanted));
  select.replaceChildren(...shown.map((v) => el("option", { value: String(v.id), text: v.plate })));
  if (shown.some((v) => String(v.id) === chosen)) select.value = chosen;
}

function yesNo(value) {
  return value == null ? "—" : value ? t("forms.yes") : t("forms.no");
}

function show(i) {
  const f = state.points[i];
  if (!f) return;
  state.index = i;
  $("replay-slider").value = String(i);
  const [lon, lat] = f.geometry.coordinates;
  state.cursor?.setLatLng(toLatLng(lon, lat));
  const p = f.properties;
  const facts = [
    ["forms.replay.point", `${i + 1} / ${state.points.length}`],
    ["forms.field.at", formatDateTime(p.fix_time, state.timeZone)],
    ["forms.replay.speed_kmh", `${formatNumber(Math.round(p.speed_kmh ?? 0))} km/h`],
    ["forms.replay.loaded", yesNo(p.loaded)],
    ["forms.replay.body_lifted", yesNo(p.body_lifted)],
  ];
  $("replay-point").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v, dataset: { fact: k.split(".").at(-1) } })]));
  $("replay-point").dataset.index = String(i);
}

function pause() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  $("replay-play").textContent = t("forms.replay.play");
  $("replay-play").dataset.playing = "false";
}

function play() {
  if (state.timer) return pause();
  if (state.index >= state.points.length - 1) show(0);
  state.clock = state.times[state.index];
  $("replay-play").textContent = t("forms.replay.pause");
  $("replay-play").dataset.playing = "true";
  state.timer = setInterval(() => {
    state.clock += TICK_MS * Number($("replay-speed").value);
    let i = state.index;
    while (i < state.points.length - 1 && state.times[i + 1] <= state.clock) i += 1;
    if (i === state.index && state.times[i + 1] - state.clock > 60_000) state.clock = state.times[i + 1]; // skip long gaps
    if (i !== state.index) show(i);
    if (i >= state.points.length - 1) pause();
  }, TICK_MS);
}

async function fetchTrack(vehicleId, start, end) {
  let url = `/api/v1/vehicles/${vehicleId}/track?${new URLSearchParams({ start, end, limit: "5000" })}`;
  const points = [];
  while (url && points.length < MAX_POINTS) {
    const page = await api(url.startsWith("http") ? new URL(url).pathname + new URL(url).search : url);
    points.push(...page.features);
    url = page.next ?? null;
  }
  return points;
}

function drawSightings() {
  const bounds = [];
  for (const s of state.sightings) {
    const at = toLatLng(s.lon, s.lat);
    bounds.push(at);
    const found = s.findings.map((f) => t(`forms.replay.finding.${f.kind ?? f.type}`)).join("、");
    const text = t("forms.replay.sighting", { checkpoint: s.checkpoint_name, at: formatDateTime(s.seen_at, state.timeZone), plate: s.plate, confidence: formatNumber(s.confidence) });
    L.circleMarker(at, { radius: 7, weight: 2, color: "#fff", fillColor: s.findings.length ? "#e03131" : "#7048e8", fillOpacity: 1, className: `replay-sighting sighting-${s.id}` })
      .bindTooltip(found ? `${text} · ${found}` : text)
      .addTo(layer);
  }
  return bounds;
}

async function load(ev) {
  ev?.preventDefault();
  pause();
  const extra = () => (form.elements.start.value && form.elements.start.value >= form.elements.end.value ? [["end", "forms.audit.until_after"]] : []);
  if (!checkForm(form, extra)) return;
  const start = localToInstant(form.elements.start.value, state.timeZone);
  const end = localToInstant(form.elements.end.value, state.timeZone);
  try {
    state.points = await fetchTrack(form.elements.vehicle_id.value, start, end);
    const query = new URLSearchParams({ vehicle_id: form.elements.vehicle_id.value, from: start, to: end, limit: "1000" });
    state.sightings = await api(`/api/v1/sightings?${query}`);
  } catch (err) {
    showApiError(form, err);
    return;
  }
  state.times = state.points.map((f) => Date.parse(f.properties.fix_time));
  layer.clearLayers();
  const plate = form.elements.vehicle_id.selectedOptions[0]?.textContent ?? "";
  $("replay-title").textContent = t("forms.replay.title", { plate });
  const counted = t("forms.replay.count", { n: formatNumber(state.points.length) });
  $("replay-count").textContent = state.sightings.length ? `${counted} · ${t("forms.replay.sightings", { n: formatNumber(state.sightings.length) })}` : counted;
  const slider = $("replay-slider");
  slider.max = String(Math.max(state.points.length - 1, 0));
  slider.disabled = state.points.length < 2;
  $("replay-play").disabled = state.points.length < 2;
  $("replay-point").replaceChildren();
  $("replay-point").dataset.index = "";
  document.body.dataset.loaded = String(state.points.length);
  const seen = drawSightings();
  document.body.dataset.sightings = String(state.sightings.length);
  if (!state.points.length) {
    if (seen.length) map.fitBounds(L.latLngBounds(seen).pad(0.5), { maxZoom: 16 });
    return;
  }
  const latlngs = state.points.map((f) => toLatLng(...f.geometry.coordinates));
  const line = L.polyline(latlngs, { color: "#1c7ed6", weight: 4, className: "replay-track" }).addTo(layer);
  state.cursor = L.circleMarker(latlngs[0], { radius: 8, weight: 3, color: "#fff", fillColor: "#d9480f", fillOpacity: 1, className: "replay-cursor" }).addTo(layer);
  map.fitBounds(line.getBounds().pad(0.2), { maxZoom: 17 });
  show(0);
}

async function main() {
  await startPage();
  state.timeZone = await cityTimeZone();
  $("replay-zone").textContent = zoneLabel(state.timeZone);
  state.vehicles = (await api("/api/v1/vehicles?limit=1000")).sort((a, b) => a.plate.localeCompare(b.plate, "zh-CN"));
  fillVehicles();
  const chosen = params.get("vehicle");
  if (chosen) form.elements.vehicle_id.value = chosen;
  const now = Date.now();
  form.elements.end.value = instantToLocal(new Date(now + 60_000), state.timeZone);
  form.elements.start.value = instantToLocal(new Date(now - 2 * 3600_000), state.timeZone);
  $("plate-search").addEventListener("input", (ev) => fillVehicles(ev.target.value));
  form.addEventListener("submit", load);
  // the chosen truck's track over the chosen period, as a job (a month of fixes takes a while)
  const period = () => ({
    vehicle_id: form.elements.vehicle_id.value,
    since: form.elements.start.value && localToInstant(form.elements.start.value, state.timeZone),
    until: form.elements.end.value && localToInstant(form.elements.end.value, state.timeZone),
  });
  const formats = ["csv", "gpx", "kml", "geojson"];
  $("replay-exports").append(...formats.flatMap((format) => [exportButton("track", period, { format, job: true }), " "]));
  $("replay-play").addEventListener("click", play);
  $("replay-slider").addEventListener("input", (ev) => {
    pause();
    show(Number(ev.target.value));
  });
  document.body.dataset.ready = "true";
}

main().catch((err) => notice(err.message, "error"));
