// Drawing a corridor's centre line by hand on the permit page: each click on the map adds a
// point; the line is shown as drawn, and a half-width ribbon (in metres) around it.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const round6 = (v) => Math.round(v * 1e6) / 1e6;

/** A ribbon of ±half_width_m around the line, for display only (local flat approximation). */
function ribbon(points, halfWidthM) {
  if (points.length < 2) return [];
  const mPerDegLat = 111_320;
  const left = [];
  const right = [];
  points.forEach(([lon, lat], i) => {
    const mPerDegLon = mPerDegLat * Math.cos((lat * Math.PI) / 180);
    const [aLon, aLat] = points[Math.max(0, i - 1)];
    const [bLon, bLat] = points[Math.min(points.length - 1, i + 1)];
    const dx = (bLon - aLon) * mPerDegLon;
    const dy = (bLat - aLat) * mPerDegLat;
    const len = Math.hypot(dx, dy) || 1;
    const nx = (-dy / len) * halfWidthM;
    const ny = (dx / len) * halfWidthM;
    left.push([lon + nx / mPerDegLon, lat + ny / mPerDegLat]);
    right.push([lon - nx / mPerDegLon, lat - ny / mPerDegLat]);
  });
  return [...left, ...right.reverse()];
}

export function corridorDrawer({ map, toLatLng, fromLatLng, onChange }) {
  const layer = L.layerGroup().addTo(map);
  let points = []; // [lon, lat] (WGS-84)
  let active = false;

  function halfWidth() {
    const value = Number($("draw-half-width").value);
    return Number.isFinite(value) && value > 0 ? value : null;
  }

  function redraw() {
    layer.clearLayers();
    const hw = halfWidth();
    if (hw && points.length > 1) {
      L.polygon(ribbon(points, hw).map(([lon, lat]) => toLatLng(lon, lat)), {
        color: "#fd7e14", weight: 1, fillOpacity: 0.15, interactive: false, className: "fence fence-drawing-ribbon",
      }).addTo(layer);
    }
    if (points.length > 1) {
      L.polyline(points.map(([lon, lat]) => toLatLng(lon, lat)), {
        color: "#fd7e14", weight: 4, interactive: false, className: "fence fence-drawing",
      }).addTo(layer);
    }
    points.forEach(([lon, lat], i) =>
      L.circleMarker(toLatLng(lon, lat), { radius: 5, color: "#fff", weight: 2, fillColor: "#fd7e14", fillOpacity: 1, interactive: false, className: `draw-point draw-point-${i}` }).addTo(layer),
    );
    $("draw-count").textContent = t("permits.draw.points", { count: points.length });
    $("draw-count").dataset.count = String(points.length);
    $("draw-save").disabled = points.length < 2 || !hw;
    $("draw-undo").disabled = points.length === 0;
    onChange?.(points);
  }

  function onClick(ev) {
    if (!active) return;
    points.push(fromLatLng(ev.latlng).map(round6));
    redraw();
  }

  function start(halfWidthM) {
    active = true;
    points = [];
    if (halfWidthM) $("draw-half-width").value = String(halfWidthM);
    $("draw").hidden = false;
    map.getContainer().classList.add("drawing");
    redraw();
  }

  function stop() {
    active = false;
    points = [];
    layer.clearLayers();
    $("draw").hidden = true;
    map.getContainer().classList.remove("drawing");
  }

  map.on("click", onClick);
  $("draw-undo").addEventListener("click", () => {
    points.pop();
    redraw();
  });
  $("draw-half-width").addEventListener("input", redraw);

  return {
    start,
    stop,
    get active() {
      return active;
    },
    /** The drawn corridor as the permits API takes it. */
    corridor() {
      return { geometry: { type: "LineString", coordinates: points.map((p) => [...p]) }, half_width_m: halfWidth() };
    },
  };
}
