// The vehicle panel of the live map: what the truck is doing (engine state), its permit, its
// current (or last) trip, and its track of the last hour drawn on the map. Facts are keyed by
// stable names (data-fact) and labelled from the catalog; names, not ids, where they exist.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { formatNumber, t, term } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** Fills a <dl> from [fact key, catalog key of its label, value] rows. */
function fill(dl, rows) {
  dl.replaceChildren();
  for (const [key, label, value] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = t(label);
    dd.textContent = String(value);
    dd.dataset.fact = key;
    dl.append(dt, dd);
  }
}

export function vehiclePanel({ map, api, toLatLng, stateOf, names }) {
  const trackLayer = L.layerGroup().addTo(map);
  let selected = null;
  let loaded = { trip: null, permit: null, engineTrip: null }; // of the selected vehicle
  const time = (iso) => names.time(iso);

  function showFacts(v) {
    $("vehicle").hidden = false;
    $("vehicle").dataset.vehicleId = String(v.vehicle_id);
    $("vehicle-title").textContent = v.plate || t("map.vehicle", { id: v.vehicle_id });
    const state = stateOf(v);
    const loadedText = v.loaded == null ? t("unknown") : t(v.loaded ? "vehicle.loaded.yes" : "vehicle.loaded.no");
    fill($("vehicle-facts"), [
      ["state", "vehicle.state", term("truck.state", state)],
      ["last fix", "vehicle.last_fix", `${names.dateTime(v.time)} ${names.zone()}`],
      ["speed", "vehicle.speed", t("units.kmh", { value: formatNumber(Math.round(v.speed_kmh ?? 0)) })],
      ["loaded", "vehicle.loaded", loadedText],
      ["company", "vehicle.company", names.company(v.company_id)],
      ["position", "vehicle.position", `${v.lon.toFixed(5)}, ${v.lat.toFixed(5)}`],
    ]);
  }

  function showTrip(trip) {
    const rows = [];
    if (!trip) {
      rows.push(["trip", "vehicle.trip.status", t("vehicle.trip.none")]);
    } else {
      const outcome = term("vehicle.trip.outcome", trip.outcome);
      rows.push(["trip", "vehicle.trip.status", trip.outcome == null ? t("vehicle.trip.under_way") : t("vehicle.trip.last", { outcome })]);
      rows.push(["trip id", "vehicle.trip.id", trip.trip_id]);
      rows.push(["loading", "vehicle.loading_at", time(trip.loading_at)]);
      rows.push(["departed", "vehicle.departed", time(trip.departed_at)]);
      if (trip.arrived_at) rows.push(["arrived", "vehicle.arrived", time(trip.arrived_at)]);
      if (trip.yard_id) rows.push(["yard", "vehicle.yard", names.yard(trip.yard_id)]);
      if (trip.volume_m3 != null) rows.push(["volume", "vehicle.volume", t("units.m3", { value: formatNumber(Math.round(trip.volume_m3 * 10) / 10) })]);
    }
    fill($("vehicle-trip"), rows);
  }

  function showPermit(permit, permitId) {
    let rows;
    if (permit) {
      const label = t("vehicle.permit.with_state", { permit: t("vehicle.permit.no", { id: permit.id }), state: term("permit.state", permit.state) });
      rows = [
        ["permit", "vehicle.permit.label", label],
        ["valid", "vehicle.permit.valid", `${permit.valid_from} → ${permit.valid_to}`],
        ["windows", "vehicle.permit.windows", permit.windows.map((w) => `${w.start}–${w.end}`).join(", ")],
      ];
    } else {
      rows = [["permit", "vehicle.permit.label", permitId ? t("vehicle.permit.no", { id: permitId }) : t("vehicle.permit.none")]];
    }
    fill($("vehicle-permit"), rows);
  }

  async function loadTripAndPermit(v) {
    const vid = v.vehicle_id;
    loaded.engineTrip = v.trip_id ?? null;
    let trip = null;
    try {
      const body = await api(`/api/v1/trips?vehicle_id=${vid}&limit=1`);
      trip = body.trips[0] || null;
    } catch {
      trip = null;
    }
    if (selected !== vid) return;
    loaded.trip = trip;
    showTrip(trip);
    const permitId = v.permit_id || trip?.permit_id || null;
    let permit = null;
    if (permitId && /^\d+$/.test(String(permitId))) {
      permit = await api(`/api/v1/permits/${permitId}`).catch(() => null);
    }
    if (selected !== vid) return;
    loaded.permit = permit;
    showPermit(permit, permitId);
  }

  async function loadTrack(vid) {
    trackLayer.clearLayers();
    const start = new Date(Date.now() - 3600 * 1000).toISOString();
    const note = $("vehicle-track");
    try {
      const body = await api(`/api/v1/vehicles/${vid}/track?start=${encodeURIComponent(start)}&shape=line`);
      if (selected !== vid) return;
      const line = body.features[0]?.geometry;
      note.textContent = t("vehicle.track", { count: formatNumber(body.count) });
      note.dataset.count = String(body.count);
      if (line) {
        const latlngs = line.coordinates.map(([lon, lat]) => toLatLng(lon, lat));
        L.polyline(latlngs, { color: "#343a40", weight: 3, dashArray: "4 4", className: "track" }).addTo(trackLayer);
      }
    } catch (err) {
      note.textContent = t("vehicle.track.none", { error: err.message });
    }
  }

  async function select(v, vid = v?.vehicle_id) {
    selected = vid;
    loaded = { trip: null, permit: null, engineTrip: null };
    if (v) showFacts(v);
    fill($("vehicle-trip"), [["trip", "vehicle.trip.status", "…"]]);
    fill($("vehicle-permit"), [["permit", "vehicle.permit.label", "…"]]);
    await Promise.all([loadTrack(vid), v ? loadTripAndPermit(v) : Promise.resolve()]);
    $("vehicle").dataset.loaded = String(vid); // read by the browser tests
  }

  /** The selected truck changed (a fix or a state): refresh its facts, and its trip and permit
   * when the engine moved it to another trip or permit. */
  function update(v) {
    if (selected !== v.vehicle_id) return;
    showFacts(v);
    if ((v.trip_id ?? null) !== loaded.engineTrip) loadTripAndPermit(v);
  }

  function close() {
    selected = null;
    trackLayer.clearLayers();
    $("vehicle").hidden = true;
  }

  $("vehicle-close").addEventListener("click", close);
  return { select, update, close, get selected() { return selected; } };
}
