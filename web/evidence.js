// The evidence panel of the live map: an incident's evidence track drawn on the map, a slider
// (and a play button) that replays its points, the sensor timeline at each point, and the
// officer's actions on it (incident-actions.js).
// Words from web/locales/map.js; times in the city's zone (names.time, names.dateTime).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { formatNumber, t, term } from "./i18n.js";
import { incidentActions } from "./incident-actions.js";

const SENSORS = ["loaded", "body_lifted", "cover_closed"];
const $ = (id) => document.getElementById(id);
const yesNo = (v) => t(v == null ? "unknown" : v ? "yes" : "no");

export function evidencePanel({ map, api, toLatLng, names }) {
  const layer = L.layerGroup().addTo(map);
  let points = []; // the evidence features, in time order
  let cursor = null;
  let timer = null;
  let current = null; // the incident shown
  const actions = incidentActions($("evidence"));

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    $("evidence-play").textContent = t("evidence.play");
  }

  function show(i) {
    const f = points[i];
    if (!f) return;
    const [lon, lat] = f.geometry.coordinates;
    const p = f.properties;
    $("evidence-slider").value = String(i);
    cursor?.setLatLng(toLatLng(lon, lat));
    const facts = [
      ["point", t("evidence.point"), t("evidence.point.of", { i: i + 1, n: points.length })],
      ["time", t("evidence.time"), `${names.time(p.time)} ${names.zone()}`],
      ["speed", t("evidence.speed"), t("units.kmh", { value: formatNumber(Math.round(p.speed_kmh ?? 0)) })],
      ...SENSORS.map((key) => [key, t(`sensor.${key}`), yesNo(p[key])]),
    ];
    if (p.distance_m != null) facts.push(["off corridor", t("evidence.off_corridor"), t("units.m", { value: formatNumber(Math.round(p.distance_m)) })]);
    if (p.fence_ids?.length) facts.push(["fences", t("evidence.fences"), p.fence_ids.map((id) => names.fence(id)).join(t("list.sep"))]);
    const dl = $("evidence-point");
    dl.replaceChildren();
    for (const [k, label, value] of facts) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = label;
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
      ...SENSORS.map((key) => [t(`sensor.${key}`), (p) => (p[key] == null ? "unknown" : p[key] ? "on" : "off")]),
      [t("sensor.speed"), (p) => ((p.speed_kmh ?? 0) >= 3 ? "on" : "off")],
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
        cell.title = t("evidence.at", { label, time: names.time(f.properties.time) });
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
    $("evidence-title").textContent = t("evidence.title");
    $("evidence-note").textContent = t("evidence.loading");
    layer.clearLayers();
    let incident;
    try {
      incident = await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}`);
    } catch (err) {
      $("evidence-note").textContent = t("evidence.unavailable", { error: err.message });
      return;
    }
    if (current !== incidentId) return; // another incident was opened meanwhile
    actions.show(incident);
    points = [...(incident.evidence?.features ?? [])].sort((a, b) => Date.parse(a.properties.time) - Date.parse(b.properties.time));
    $("evidence-title").textContent = t("evidence.title.of", { type: term("incident.type", incident.type) });
    const opened = `${names.dateTime(incident.opened_at)} ${names.zone()}`;
    const notes = [t("evidence.points", { count: points.length }), term("incident.status", incident.status), t("evidence.opened", { time: opened })];
    if (incident.late) notes.push(t("evidence.late"));
    if (incident.detail?.delivery_only) notes.push(t("evidence.delivery_only"));
    if (incident.detail?.retracted) notes.push(t("evidence.retracted"));
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
    $("evidence-play").textContent = t("evidence.pause");
    timer = setInterval(() => {
      i += 1;
      show(i);
      if (i >= points.length - 1) stop();
    }, 600);
  });
  $("evidence-close").addEventListener("click", close);
  return { open, close, show };
}
