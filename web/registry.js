// The registry page: companies, trucks, terminals, sites, yards and no-go zones — a list, a form
// to add or edit (PUT replaces the whole row), deactivate; places drawn on the map as polygons.
// A terminal's token is shown once, when it is added or its token is rotated. ?entity= picks the
// tab (no token in the URL: the token comes from token.js).
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { displayTransform } from "./geo.js";
import { $, api, apiSend, checkForm, cityTimeZone, clearErrors, el, notice, showApiError, startPage, zoneLabel } from "./forms-api.js";
import { t } from "./i18n.js";
import { polygonDrawer } from "./polygon-draw.js";
import { windowsEditor } from "./windows-editor.js";

const TEXT = (name, extra = {}) => ({ name, kind: "text", ...extra });
const NUMBER = (name, extra = {}) => ({ name, kind: "number", ...extra });
const ACTIVE = { name: "active", kind: "checkbox", initial: true };

const ENTITIES = {
  companies: { fields: [TEXT("name", { required: true, maxlength: 200 }), TEXT("credit_code", { maxlength: 64 }), TEXT("district", { maxlength: 64 }), ACTIVE], label: (r) => r.name },
  vehicles: {
    fields: [
      TEXT("plate", { required: true, maxlength: 20 }),
      { name: "company_id", kind: "ref", ref: "companies", required: true },
      NUMBER("rated_volume_m3", { required: true, min: 0.1, max: 100, step: 0.1 }),
      TEXT("terminal_model", { maxlength: 64 }),
      ACTIVE,
    ],
    label: (r) => r.plate,
  },
  terminals: {
    fields: [
      TEXT("identity", { required: true, maxlength: 32 }),
      { name: "vehicle_id", kind: "ref", ref: "vehicles" },
      TEXT("model", { maxlength: 64 }),
      ACTIVE,
    ],
    label: (r) => r.identity,
  },
  sites: {
    fields: [
      TEXT("name", { required: true, maxlength: 200 }),
      { name: "kind", kind: "choice", choices: ["construction", "quarry", "mixing"], required: true },
      { name: "company_id", kind: "ref", ref: "companies" },
      { name: "active_from", kind: "date" },
      { name: "active_to", kind: "date" },
      ACTIVE,
    ],
    place: true,
    label: (r) => r.name,
  },
  yards: {
    fields: [
      TEXT("name", { required: true, maxlength: 200 }),
      NUMBER("capacity_m3", { required: true, min: 1, max: 1e10, step: 1 }),
      { name: "opening_hours", kind: "windows" },
      TEXT("accepted_materials", { maxlength: 2000, list: true }),
      ACTIVE,
    ],
    place: true,
    label: (r) => r.name,
  },
  zones: {
    fields: [
      TEXT("name", { required: true, maxlength: 200 }),
      { name: "schedule", kind: "windows", weekly: true },
      NUMBER("speed_limit_kmh", { min: 1, max: 200, step: 1 }),
      ACTIVE,
    ],
    place: true,
    label: (r) => r.name,
  },
  // checkpoints (卡点): a point with plate cameras; directions as names (bearing kept on edit)
  checkpoints: {
    fields: [
      TEXT("name", { required: true, maxlength: 200 }),
      NUMBER("lon", { required: true, min: -180, max: 180, step: "any" }),
      NUMBER("lat", { required: true, min: -90, max: 90, step: "any" }),
      TEXT("district", { maxlength: 64 }),
      TEXT("directions", { maxlength: 300, list: true, objects: true }),
      TEXT("cameras", { maxlength: 2000, list: true }),
      { name: "muck_lanes", kind: "checkbox", initial: true },
      ACTIVE,
    ],
    label: (r) => r.name,
  },
  "camera-systems": { fields: [TEXT("name", { required: true, maxlength: 200 }), TEXT("note", { maxlength: 500 }), ACTIVE], token: true, label: (r) => r.name },
};
const listNames = (value, field) => (value ?? []).map((v) => (field.objects ? v.name : v));

const params = new URLSearchParams(location.search);
const state = { entity: ENTITIES[params.get("entity")] ? params.get("entity") : "companies", rows: [], editing: null, refs: {}, editors: {} };
const form = $("entity-form");
const geo = displayTransform(params.get("crs") || "wgs84");
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};
const map = L.map("map").setView([43.735, 7.42], 14);
const tiles = params.get("tiles") || localStorage.getItem("tracker.tiles") || "";
if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
const placesLayer = L.layerGroup().addTo(map);
const drawer = polygonDrawer({
  map,
  toLatLng,
  fromLatLng: (ll) => geo.unshow(ll.lng, ll.lat),
  onChange: (n) => {
    $("draw-count").textContent = t("forms.corners", { n });
  },
});
window.trackerRegistry = { map, state, drawer, toLatLng }; // read by the browser tests

function spec() {
  return ENTITIES[state.entity];
}

async function loadRefs() {
  const [companies, vehicles] = await Promise.all([api("/api/v1/companies?limit=1000"), api("/api/v1/vehicles?limit=1000")]);
  state.refs.companies = new Map(companies.map((r) => [r.id, r.name]));
  state.refs.vehicles = new Map(vehicles.map((r) => [r.id, r.plate]));
}

function control(field) {
  const common = { name: field.name, id: `f-${field.name}`, required: field.required };
  if (field.kind === "checkbox") return el("input", { ...common, type: "checkbox" });
  if (field.kind === "number") return el("input", { ...common, type: "number", min: field.min, max: field.max, step: field.step });
  if (field.kind === "date") return el("input", { ...common, type: "date" });
  if (field.kind === "choice" || field.kind === "ref") {
    const select = el("select", common, el("option", { value: "", text: t("forms.none") }));
    const options = field.kind === "choice" ? field.choices.map((c) => [c, t(`forms.choice.${c}`)]) : [...state.refs[field.ref]].map(([id, name]) => [String(id), name]);
    for (const [value, text] of options) select.append(el("option", { value, text }));
    return select;
  }
  return el("input", { ...common, type: "text", maxlength: field.maxlength, placeholder: field.list ? t("forms.list_hint") : null });
}

function renderForm() {
  const fields = $("entity-fields");
  fields.replaceChildren();
  state.editors = {};
  for (const field of spec().fields) {
    const label = t(`forms.field.${field.name}`);
    if (field.kind === "windows") {
      const box = el("div", { class: "windows-box" });
      fields.append(el("fieldset", {}, el("legend", { text: `${label} · ${zoneLabel(state.timeZone)}` }), box));
      state.editors[field.name] = windowsEditor(box, { field: field.name, weekly: field.weekly });
    } else if (field.kind === "checkbox") {
      fields.append(el("label", { class: "check" }, control(field), label));
    } else {
      fields.append(el("label", {}, el("span", { text: label }), control(field)));
    }
  }
  $("place-draw").hidden = !spec().place;
  $("map").hidden = !spec().place; // only places are drawn
}

function fill(row) {
  state.editing = row;
  clearErrors(form);
  $("form-title").textContent = row ? t("forms.edit_title", { name: spec().label(row) }) : t(`forms.new.${state.entity}`);
  form.dataset.editing = row ? String(row.id) : "";
  for (const field of spec().fields) {
    const value = row ? row[field.name] : field.initial;
    if (field.kind === "windows") state.editors[field.name].set(value ?? []);
    else if (field.kind === "checkbox") form.elements[field.name].checked = row ? Boolean(value) : Boolean(field.initial);
    else if (field.list) form.elements[field.name].value = listNames(value, field).join(", ");
    else form.elements[field.name].value = value ?? "";
  }
  if (spec().place) {
    if (row) drawer.load(row.geometry);
    else drawer.clear();
  }
  $("cancel-edit").hidden = !row;
}

function body() {
  const out = {};
  for (const field of spec().fields) {
    const input = form.elements[field.name];
    if (field.kind === "windows") out[field.name] = state.editors[field.name].value();
    else if (field.kind === "checkbox") out[field.name] = input.checked;
    else if (field.list) {
      const items = input.value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
      const kept = new Map((state.editing?.[field.name] ?? []).map((d) => [d.name, d]));
      out[field.name] = field.objects ? items.map((name) => kept.get(name) ?? { name }) : items;
    }
    else if (field.kind === "number" || field.kind === "ref") out[field.name] = input.value === "" ? null : Number(input.value);
    else out[field.name] = input.value.trim() === "" ? null : input.value.trim();
  }
  if (spec().place) out.geometry = drawer.geometry();
  return out;
}

function problems() {
  const found = Object.values(state.editors).flatMap((e) => e.problems());
  if (spec().place && !drawer.geometry()) found.push(["geometry", "forms.polygon_needed"]);
  return found;
}

async function save(ev) {
  ev.preventDefault();
  if (!checkForm(form, problems)) return;
  const row = state.editing;
  try {
    const saved = row ? await apiSend("PUT", `/api/v1/${state.entity}/${row.id}`, body()) : await apiSend("POST", `/api/v1/${state.entity}`, body());
    notice(t(row ? "forms.saved" : "forms.created", { name: spec().label(saved) }));
    if ((state.entity === "terminals" || spec().token) && !row) await showToken(saved.id);
    if (state.entity === "companies" || state.entity === "vehicles") await loadRefs();
    await reload();
    fill(null);
  } catch (err) {
    showApiError(form, err);
  }
}

async function showToken(terminalId) {
  const issued = await apiSend("POST", `/api/v1/${state.entity}/${terminalId}/token`);
  $("token-value").textContent = issued.token;
  $("token-terminal").textContent = String(terminalId);
  $("token-once").hidden = false;
}

async function rotate(row) {
  if (!confirm(t("forms.confirm_rotate", { name: row.identity ?? row.name }))) return;
  try {
    await showToken(row.id);
    await reload();
  } catch (err) {
    notice(err.message, "error");
  }
}

async function deactivate(row) {
  if (!confirm(t("forms.confirm_deactivate", { name: spec().label(row) }))) return;
  try {
    await apiSend("DELETE", `/api/v1/${state.entity}/${row.id}`);
    notice(t("forms.deactivated", { name: spec().label(row) }));
    await reload();
  } catch (err) {
    notice(err.message, "error");
  }
}

function cell(row, field) {
  const value = row[field.name];
  if (field.kind === "checkbox") return value ? t("forms.yes") : t("forms.no");
  if (field.kind === "ref") return value == null ? "—" : state.refs[field.ref].get(value) ?? String(value);
  if (field.kind === "choice") return t(`forms.choice.${value}`);
  if (field.kind === "windows") return (value ?? []).map((w) => `${w.days ? `${w.days.map((d) => t(`forms.day_${d}`)).join("")} ` : ""}${w.start}–${w.end}`).join("; ") || "—";
  if (field.list) return listNames(value, field).join("、") || "—";
  return value ?? "—";
}

function renderRows() {
  const shown = spec().fields.filter((f) => f.name !== "active");
  const head = el("tr", {}, ...shown.map((f) => el("th", { text: t(`forms.field.${f.name}`) })), el("th", { text: t("forms.field.active") }), el("th"));
  const tbody = el("tbody");
  placesLayer.clearLayers();
  for (const row of state.rows) {
    const actions = el("td", { class: "row-actions" });
    actions.append(el("button", { type: "button", class: "small row-edit", text: t("forms.edit"), onclick: () => fill(row) }));
    if (row.active) actions.append(el("button", { type: "button", class: "small row-deactivate", text: t("forms.deactivate"), onclick: () => deactivate(row) }));
    if (state.entity === "vehicles") actions.append(el("a", { class: "row-replay", href: `replay.html?vehicle=${row.id}`, text: t("forms.nav.replay") }));
    if (state.entity === "terminals" || spec().token) actions.append(el("button", { type: "button", class: "small row-token", text: t("forms.rotate_token"), onclick: () => rotate(row) }));
    const tr = el("tr", { dataset: { id: String(row.id), active: String(row.active) } }, ...shown.map((f) => el("td", { text: String(cell(row, f)) })), el("td", { text: row.active ? t("forms.yes") : t("forms.no") }), actions);
    tbody.append(tr);
    if (spec().place && row.geometry) {
      L.geoJSON(row.geometry, { coordsToLatLng: ([lon, lat]) => toLatLng(lon, lat), style: { color: "#495057", weight: 1, fillOpacity: 0.08, className: `fence fence-row-${row.id}` } }).addTo(placesLayer);
    }
  }
  $("rows").replaceChildren(el("thead", {}, head), tbody);
  $("rows-empty").hidden = state.rows.length > 0;
}

async function reload() {
  state.rows = await api(`/api/v1/${state.entity}?limit=1000`);
  state.rows.sort((a, b) => b.id - a.id);
  renderRows();
  $("rows").dataset.loaded = state.entity;
}

async function main() {
  await startPage();
  state.timeZone = await cityTimeZone();
  for (const button of document.querySelectorAll("#entity-tabs a")) {
    if (button.dataset.entity === state.entity) button.setAttribute("aria-current", "page");
  }
  $("list-title").textContent = t(`forms.entity.${state.entity}`);
  await loadRefs();
  renderForm();
  fill(null);
  form.addEventListener("submit", save);
  $("cancel-edit").addEventListener("click", () => fill(null));
  $("draw-undo").addEventListener("click", () => drawer.undo());
  $("draw-clear").addEventListener("click", () => drawer.clear());
  $("token-close").addEventListener("click", () => {
    $("token-once").hidden = true;
    $("token-value").textContent = "";
  });
  await reload();
  map.invalidateSize();
}

main().catch((err) => notice(err.message, "error"));
