// Disposal yards on the live map: a fill label on each yard (from /api/v1/yards/capacity) that
// links to its yard page, kept current by the capacity alerts of the live feed.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { fillLevel, formatPct } from "./common.js";
import { formatTime, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

function levelText(a) {
  return typeof a.level === "number" ? t("yard.passed", { level: a.level }) : t(`yard.${a.level}`);
}

export function yardLayer({ map, api, toLatLng, zone = () => "Asia/Shanghai" }) {
  const layer = L.layerGroup().addTo(map);
  const yards = new Map(); // yard id -> { figures, marker }
  const coordsToLatLng = ([lon, lat]) => toLatLng(lon, lat);

  function label(figures) {
    const closed = figures.status === "closed";
    const el = document.createElement("a");
    el.href = `yard.html?yard=${figures.yard_id}`;
    el.className = `yard-fill level-${fillLevel(figures.fill_pct, closed)}`;
    el.dataset.yardId = String(figures.yard_id);
    const name = figures.name || t("yard.unnamed", { id: figures.yard_id });
    el.textContent = `${name} · ${formatPct(figures.fill_pct)}${closed ? ` · ${t("yard.closed")}` : ""}`;
    return el;
  }

  function render(entry) {
    entry.marker.setIcon(L.divIcon({ className: "yard-label", html: label(entry.figures), iconSize: null }));
  }

  async function load() {
    let places;
    let figures;
    try {
      [places, figures] = await Promise.all([api("/api/v1/yards?limit=1000"), api("/api/v1/yards/capacity")]);
    } catch {
      return false; // no capacity service: the yards are still drawn as fences
    }
    layer.clearLayers();
    yards.clear();
    const where = new Map(places.map((p) => [p.id, p.geometry]));
    for (const f of figures) {
      const geometry = where.get(f.yard_id);
      if (!geometry) continue;
      const center = L.geoJSON(geometry, { coordsToLatLng }).getBounds().getCenter();
      const entry = { figures: f, marker: L.marker(center, { keyboard: false }).addTo(layer) };
      yards.set(f.yard_id, entry);
      render(entry);
    }
    document.body.dataset.yardsLoaded = String(yards.size); // read by the browser tests
    return true;
  }

  function listAlert(a) {
    const list = $("yard-alerts");
    if (!list) return;
    const key = `${a.yard_id}|${a.level}|${a.at}`;
    if (list.querySelector(`[data-key="${CSS.escape(key)}"]`)) return;
    const item = document.createElement("li");
    item.dataset.key = key;
    item.dataset.yardId = String(a.yard_id);
    item.className = `yard-alert level-${fillLevel(a.fill_pct, a.closed)}`;
    const name = yards.get(a.yard_id)?.figures.name || t("yard.unnamed", { id: a.yard_id });
    const link = document.createElement("a");
    link.href = `yard.html?yard=${a.yard_id}`;
    link.textContent = name;
    const what = document.createElement("span");
    what.textContent = ` ${levelText(a)} · ${t("yard.now", { pct: formatPct(a.fill_pct) })}${a.closed ? ` · ${t("yard.closed")}` : ""}`;
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = ` ${formatTime(a.at, zone())}`;
    item.append(link, what, when);
    list.prepend(item);
    while (list.children.length > 50) list.lastChild.remove();
    $("yard-alerts-empty").hidden = true;
  }

  /** A capacity alert from the live feed (``yard_capacity``). */
  function alert(a) {
    const entry = yards.get(a.yard_id);
    if (entry) {
      entry.figures = { ...entry.figures, fill_pct: a.fill_pct, status: a.closed ? "closed" : "open" };
      render(entry);
    }
    listAlert(a);
  }

  return { load, alert, yards };
}
