// A new permit: company, trucks, origin sites and disposal yards, validity dates, daily hauling
// windows in the city's local time, a quota, and a route corridor proposed on the roads or drawn
// by hand (draw.js); saved as a draft, or saved and submitted for approval.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { corridorDrawer } from "./draw.js";
import { displayTransform } from "./geo.js";
import { $, api, apiSend, checkForm, cityTimeZone, el, notice, showApiError, startPage, zoneLabel } from "./forms-api.js";
import { formatNumber, t } from "./i18n.js";
import { windowsEditor } from "./windows-editor.js";

const params = new URLSearchParams(location.search);
const form = $("permit-form");
const geo = displayTransform(params.get("crs") || "wgs84");
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};
const map = L.map("map").setView([43.735, 7.42], 14);
const tiles = params.get("tiles") || localStorage.getItem("tracker.tiles") || "";
if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
const placeLayer = L.layerGroup().addTo(map);
const corridorLayer = L.layerGroup().addTo(map);
const drawer = corridorDrawer({ map, toLatLng, fromLatLng: (ll) => geo.unshow(ll.lng, ll.lat) });
const state = { vehicles: [], sites: [], yards: [], corridor: null };
window.trackerPermitNew = { map, state, drawer }; // read by the browser tests
const windows = windowsEditor($("windows"), { field: "windows", required: true });

function choices(container, name, items, label) {
  container.replaceChildren(
    ...items.map((item) => el("label", { class: "check" }, el("input", { type: "checkbox", name, value: String(item.id), onchange: drawPlaces }), label(item))),
  );
}

function checked(name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((b) => Number(b.value));
}

function showVehicles() {
  const company = Number(form.elements.company_id.value);
  choices($("vehicle-choices"), "vehicle", state.vehicles.filter((v) => v.company_id === company && v.active), (v) => v.plate);
}

function drawPlaces() {
  placeLayer.clearLayers();
  const shown = [
    ...state.sites.filter((s) => checked("site").includes(s.id)).map((s) => [s, "site"]),
    ...state.yards.filter((y) => checked("yard").includes(y.id)).map((y) => [y, "yard"]),
  ];
  for (const [place, role] of shown) {
    L.geoJSON(place.geometry, { coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat), style: { weight: 2, fillOpacity: 0.15, className: `fence fence-${role}` } })
      .bindTooltip(place.name)
      .addTo(placeLayer);
  }
  const layers = placeLayer.getLayers();
  if (layers.length && !state.corridor) map.fitBounds(L.featureGroup(layers).getBounds().pad(0.3), { maxZoom: 16 });
}

function setCorridor(corridor, how) {
  state.corridor = corridor;
  corridorLayer.clearLayers();
  L.geoJSON(corridor.geometry, { coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat), style: { weight: 6, opacity: 0.75, className: "fence fence-corridor" } }).addTo(corridorLayer);
  const points = corridor.geometry.coordinates.length;
  $("corridor-status").textContent = t(`forms.permit.corridor_${how}`, { points, half_width_m: formatNumber(corridor.half_width_m) });
  $("corridor-box").dataset.set = how;
  const note = form.querySelector('.field-error[data-for="corridors"]');
  note?.remove();
}

async function propose() {
  const [site] = checked("site");
  const [yard] = checked("yard");
  if (!site || !yard) {
    notice(t("forms.permit.propose_needs"), "error");
    return;
  }
  try {
    const found = await apiSend("POST", "/api/v1/permits/propose-corridor", { site_id: site, yard_id: yard, half_width_m: 50, windows: windows.value() });
    setCorridor({ geometry: found.geometry, half_width_m: found.half_width_m }, "proposed");
  } catch (err) {
    notice(err.message, "error");
  }
}

function body() {
  const note = form.elements.note.value.trim();
  return {
    company_id: Number(form.elements.company_id.value),
    vehicle_ids: checked("vehicle"),
    site_ids: checked("site"),
    yard_ids: checked("yard"),
    corridors: state.corridor ? [state.corridor] : [],
    valid_from: form.elements.valid_from.value,
    valid_to: form.elements.valid_to.value,
    windows: windows.value(),
    quota_m3: Number(form.elements.quota_m3.value),
    note: note || null,
  };
}

function problems() {
  const found = windows.problems();
  for (const [name, field] of [["vehicle", "vehicle_ids"], ["site", "site_ids"], ["yard", "yard_ids"]]) {
    if (!checked(name).length) found.push([field, "forms.required"]);
  }
  const { valid_from: from, valid_to: to } = form.elements;
  if (from.value && to.value && from.value > to.value) found.push(["valid_to", "forms.permit.dates_order"]);
  if (!state.corridor) found.push(["corridors", "forms.corridor_needed"]);
  return found;
}

async function save(ev) {
  ev.preventDefault();
  const submit = ev.submitter?.dataset.action === "submit";
  // the corridor box sits beside the form: check it with the form, show its note there
  $("corridor-box").querySelector(".field-error")?.remove();
  if (!checkForm(form, problems)) {
    if (!state.corridor) $("corridor-status").after(el("span", { class: "field-error", role: "alert", dataset: { for: "corridors" }, text: t("forms.corridor_needed") }));
    return;
  }
  let permit;
  try {
    permit = await apiSend("POST", "/api/v1/permits", body());
  } catch (err) {
    showApiError(form, err);
    return;
  }
  try {
    if (submit) permit = await apiSend("POST", `/api/v1/permits/${permit.id}/submit`);
  } catch (err) {
    showApiError(form, err);
  }
  notice(t(`forms.permit.saved_${permit.state}`, { id: permit.id }));
  form.dataset.permitId = String(permit.id);
  form.dataset.state = permit.state;
  $("permit-done").hidden = false;
}

async function main() {
  await startPage();
  const timeZone = await cityTimeZone();
  $("windows-legend").textContent = `${t("forms.field.windows")} · ${zoneLabel(timeZone)}`;
  const [companies, vehicles, sites, yards] = await Promise.all(
    ["companies", "vehicles", "sites", "yards"].map((path) => api(`/api/v1/${path}?active=true&limit=1000`)),
  );
  Object.assign(state, { vehicles, sites, yards });
  form.elements.company_id.append(el("option", { value: "", text: t("forms.none") }), ...companies.map((c) => el("option", { value: String(c.id), text: c.name })));
  choices($("site-choices"), "site", sites, (s) => s.name);
  choices($("yard-choices"), "yard", yards, (y) => y.name);
  windows.set([]);
  form.elements.company_id.addEventListener("change", showVehicles);
  form.addEventListener("submit", save);
  $("propose").addEventListener("click", propose);
  $("draw-start").addEventListener("click", () => drawer.start(state.corridor?.half_width_m));
  $("draw-cancel").addEventListener("click", () => drawer.stop());
  $("draw-save").addEventListener("click", () => {
    setCorridor(drawer.corridor(), "drawn");
    drawer.stop();
  });
  document.body.dataset.ready = "true";
}

main().catch((err) => notice(err.message, "error"));
