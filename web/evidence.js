// The evidence panel of the live map: an incident's evidence track drawn on the map, a slider
// (and a play button) that replays its points, the sensor timeline at each point, and the
// officer's actions on it (incident-actions.js).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { incidentActions } from "./incident-actions.js";

const SENSORS = [
  ["loaded", "loaded"],
  ["body_lifted", "body lifted"],
  ["cover_closed", "cover closed"],
];
const $ = (id) => document.getElementById(id);
const yesNo = (v) => (v == null ? "unknown" : v ? "yes" : "no");

export function evidencePanel({ map, api, toLatLng }) {
  const layer = L.layerGroup().addTo(map);
  let points = []; // the evidence features, in time order
  let cursor = null;
  let timer = null;
  let current = null; // the incident shown
  const actions = incidentActions($("evidence"));

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    $("evidence-play").textContent = "play";
  }

  function show(i) {
    const f = points[i];
    if (!f) return;
    const [lon, lat] = f.geometry.coordinates;
    const p = f.properties;
    $("evidence-slider").value = String(i);
    cursor?.setLatLng(toLatLng(lon, lat));
    const facts = {
      point: `${i + 1} of ${points.length}`,
      time: new Date(p.time).toLocaleTimeString(),
      speed: `${Math.round(p.speed_kmh ?? 0)} km/h`,
      ...Object.fromEntries(SENSORS.map(([key, label]) => [label, yesNo(p[key])])),
    };
    if (p.distance_m != null) facts["off corridor"] = `${Math.round(p.distance_m)} m`;
    if (p.fence_ids?.length) facts.fences = p.fence_ids.join(", ");
    const dl = $("evidence-point");
    dl.replaceChildren();
    for (const [k, value] of Object.entries(facts)) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = value;
      dd.dataset.fact = k;
      dl.append(dt, dd);
    }
    for (const cell of $("evidence-timeline").querySelectorAll(".tl-cell")) {
      cell.classList.toggle("current", Number(cell.dataset.index) === i);
    }
  }

  function renderTimeline() {
    const grid = $("evidence-timeline");
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `6rem repeat(${points.length}, 1fr)`;
    const rows = [
      ...SENSORS.map(([key, label]) => [label, (p) => (p[key] == null ? "unknown" : p[key] ? "on" : "off")]),
      ["speed", (p) => ((p.speed_kmh ?? 0) >= 3 ? "on" : "off")],
    ];
    for (const [label, value] of rows) {
      const name = document.createElement("span");
      name.className = "tl-label";
      name.textContent = label;
      grid.append(name);
      points.forEach((f, i) => {
        const cell = document.createElement("span");
        cell.className = `tl-cell tl-${value(f.properties)}`;
        cell.dataset.index = String(i);
        cell.title = `${label} at ${new Date(f.properties.time).toLocaleTimeString()}`;
        cell.addEventListener("click", () => {
          stop();
          show(i);
        });
        grid.append(cell);
      });
    }
  }

  function close() {
    stop();
    layer.clearLayers();
    current = null;
    actions.show(null);
    $("evidence").hidden = true;
  }

  async function open(incidentId) {
    stop();
    current = incidentId;
    const panel = $("evidence");
    panel.hidden = false;
    panel.dataset.incidentId = incidentId;
    $("evidence-title").textContent = "Evidence";
    $("evidence-note").textContent = "loading…";
    layer.clearLayers();
    let incident;
    try {
      incident = await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}`);
    } catch (err) {
      $("evidence-note").textContent = `evidence unavailable (${err.message})`;
      return;
    }
    if (current !== incidentId) return; // another incident was opened meanwhile
    actions.show(incident);
    points = [...(incident.evidence?.features ?? [])].sort((a, b) => Date.parse(a.properties.time) - Date.parse(b.properties.time));
    $("evidence-title").textContent = `Evidence · ${incident.type.replaceAll("_", " ")}`;
    const notes = [`${points.length} points`, incident.status, `opened ${new Date(incident.opened_at).toLocaleString()}`];
    if (incident.late) notes.push("found from fixes delivered late");
    if (incident.detail?.delivery_only) notes.push("the terminal held its uploads back: delivery only");
    if (incident.detail?.retracted) notes.push("retracted: fixes delivered late contradict it");
    $("evidence-note").textContent = notes.join(" · ");
    const slider = $("evidence-slider");
    slider.max = String(Math.max(points.length - 1, 0));
    slider.disabled = points.length < 2;
    $("evidence-play").disabled = points.length < 2;
    renderTimeline();
    if (!points.length) return;
    const latlngs = points.map((f) => toLatLng(...f.geometry.coordinates));
    const track = L.polyline(latlngs, { color: "#c2255c", weight: 4, className: "evidence-track" }).addTo(layer);
    latlngs.forEach((ll) => L.circleMarker(ll, { radius: 3, weight: 1, color: "#c2255c", className: "evidence-point" }).addTo(layer));
    cursor = L.circleMarker(latlngs[0], { radius: 8, weight: 3, color: "#fff", fillColor: "#c2255c", fillOpacity: 1, className: "evidence-cursor" }).addTo(layer);
    map.fitBounds(track.getBounds().pad(0.3), { maxZoom: 17 });
    show(0);
  }

  $("evidence-slider").addEventListener("input", (ev) => {
    stop();
    show(Number(ev.target.value));
  });
  $("evidence-play").addEventListener("click", () => {
    if (timer) return stop();
    let i = Number($("evidence-slider").value);
    if (i >= points.length - 1) i = -1;
    $("evidence-play").textContent = "pause";
    timer = setInterval(() => {
      i += 1;
      show(i);
      if (i >= points.length - 1) stop();
    }, 600);
  });
  $("evidence-close").addEventListener("click", close);
  return { open, close, show };
}
