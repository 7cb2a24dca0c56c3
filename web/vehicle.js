// The vehicle panel of the live map: what the truck is doing (engine state), its permit, its
// current (or last) trip, and its track of the last hour drawn on the map.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";

const $ = (id) => document.getElementById(id);
// Labels of the states the map guesses without the engine (the engine's come from the API).
const GUESSED_LABELS = { moving: "moving (empty)" };

function fill(dl, facts) {
  dl.replaceChildren();
  for (const [k, value] of Object.entries(facts)) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = String(value);
    dd.dataset.fact = k;
    dl.append(dt, dd);
  }
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "—";
}

export function vehiclePanel({ map, api, toLatLng, stateOf, labelOf = () => undefined }) {
  const trackLayer = L.layerGroup().addTo(map);
  let selected = null;
  let loaded = { trip: null, permit: null, engineTrip: null }; // of the selected vehicle

  function showFacts(v) {
    $("vehicle").hidden = false;
    $("vehicle").dataset.vehicleId = String(v.vehicle_id);
    $("vehicle-title").textContent = v.plate || `Vehicle #${v.vehicle_id}`;
    const state = stateOf(v);
    fill($("vehicle-facts"), {
      state: labelOf(state) || GUESSED_LABELS[state] || state,
      "last fix": new Date(v.time).toLocaleString(),
      speed: `${Math.round(v.speed_kmh ?? 0)} km/h`,
      loaded: v.loaded == null ? "unknown" : v.loaded ? "yes" : "no",
      company: v.company_id ?? "—",
      position: `${v.lon.toFixed(5)}, ${v.lat.toFixed(5)}`,
    });
  }

  function showTrip(trip) {
    const facts = {};
    if (!trip) {
      facts.trip = "none recorded";
    } else {
      facts.trip = trip.outcome == null ? "under way" : `last (${trip.outcome})`;
      facts["trip id"] = trip.trip_id;
      facts.loading = time(trip.loading_at);
      facts.departed = time(trip.departed_at);
      if (trip.arrived_at) facts.arrived = time(trip.arrived_at);
      if (trip.yard_id) facts.yard = `#${trip.yard_id}`;
      if (trip.volume_m3 != null) facts.volume = `${Math.round(trip.volume_m3 * 10) / 10} m³`;
    }
    fill($("vehicle-trip"), facts);
  }

  function showPermit(permit, permitId) {
    let facts;
    if (permit) {
      facts = {
        permit: `#${permit.id} (${permit.state})`,
        valid: `${permit.valid_from} → ${permit.valid_to}`,
        windows: permit.windows.map((w) => `${w.start}–${w.end}`).join(", "),
      };
    } else {
      facts = { permit: permitId ? `#${permitId}` : "none known" };
    }
    fill($("vehicle-permit"), facts);
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
      note.textContent = `${body.count} fixes in the last hour`;
      if (line) {
        const latlngs = line.coordinates.map(([lon, lat]) => toLatLng(lon, lat));
        L.polyline(latlngs, { color: "#343a40", weight: 3, dashArray: "4 4", className: "track" }).addTo(trackLayer);
      }
    } catch (err) {
      note.textContent = `track unavailable (${err.message})`;
    }
  }

  async function select(v, vid = v?.vehicle_id) {
    selected = vid;
    loaded = { trip: null, permit: null, engineTrip: null };
    if (v) showFacts(v);
    fill($("vehicle-trip"), { trip: "…" });
    fill($("vehicle-permit"), { permit: "…" });
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
