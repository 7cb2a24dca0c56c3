// The permit page: list permits, draw one's sites, yards and corridors, propose a corridor on
// the roads, submit, approve or reject. Basemap: basemap.js (tiles=URL&crs=wgs84|gcj02|bd09 for
// custom tiles); query string: roads. The staff token comes from signing in or a one-time
// #token= fragment (token.js). Words come from
// web/locales/permits.js; ids are shown only where no name is known.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { ApiError, apiSend, ensureToken } from "./common.js";
import { chooseBasemap } from "./basemap.js";
import { corridorDrawer } from "./draw.js";
import { errorText, formatNumber, has, register, t, term } from "./i18n.js";
import mapWords from "./locales/map.js";
import words from "./locales/permits.js";
import { mountShell, showUser } from "./shell.js";

register(mapWords);
register(words);
mountShell({ page: "permits", title: "permits.title" });

const params = new URLSearchParams(location.search);
const config = {
  roads: params.get("roads") ?? "/api/v1/roads",
};
const basemap = await chooseBasemap(params);
const geo = basemap.transform; // WGS-84 <-> the basemap's system: drawn corridors are stored in WGS-84
const toLatLng = (lon, lat) => {
  const [x, y] = geo.show(lon, lat);
  return L.latLng(y, x);
};
const coordsToLatLng = ([lon, lat]) => toLatLng(lon, lat);
const $ = (id) => document.getElementById(id);

const map = L.map("map", { zoomControl: true, crs: basemap.crs }).setView([43.735, 7.42], 14);
basemap.addTo(map);
const roadLayer = L.layerGroup().addTo(map);
const permitLayer = L.layerGroup().addTo(map);
const proposalLayer = L.layerGroup().addTo(map);

const state = { permits: [], permit: null, proposal: null, companies: new Map(), places: new Map() };
const fromLatLng = (latlng) => geo.unshow(latlng.lng, latlng.lat);
const drawer = corridorDrawer({ map, toLatLng, fromLatLng });
window.trackerPermits = { map, state, drawer, basemap: basemap.preset.id, geo }; // read by the browser tests

function api(path, { method = "GET", body } = {}) {
  return apiSend(method, path, body);
}

function colour(role) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${role}`).trim() || "#495057";
}

function style(role, extra = {}) {
  const weight = role === "corridor" || role === "proposal" ? 6 : 2;
  return { color: colour(role), weight, opacity: 0.75, fillOpacity: 0.15, className: `fence fence-${role}`, ...extra };
}

function draw(layer, geometry, role, label, extra) {
  return L.geoJSON(geometry, { style: style(role, extra), coordsToLatLng })
    .bindTooltip(label)
    .addTo(layer);
}

function companyName(id) {
  return state.companies.get(id) || t("permits.company", { id });
}

/** A site's, yard's or vehicle's name once fetched (placeName), else a numbered stand-in. */
function placeName(kind, id) {
  return state.places.get(`${kind}:${id}`) || t(`permits.${kind}`, { id });
}

async function loadNames(p) {
  const wanted = [
    ...p.site_ids.map((id) => ["site", id, `/api/v1/sites/${id}`, (x) => x.name]),
    ...p.yard_ids.map((id) => ["yard", id, `/api/v1/yards/${id}`, (x) => x.name]),
    ...p.vehicle_ids.map((id) => ["vehicle", id, `/api/v1/vehicles/${id}`, (x) => x.plate]),
  ].filter(([kind, id]) => !state.places.has(`${kind}:${id}`));
  await Promise.allSettled(
    wanted.map(([kind, id, path, name]) => api(path).then((x) => state.places.set(`${kind}:${id}`, name(x)))),
  );
}

function renderList() {
  const list = $("permits");
  list.replaceChildren();
  for (const p of state.permits) {
    const item = document.createElement("li");
    item.className = "permit-item";
    item.dataset.permitId = String(p.id);
    item.dataset.state = p.state;
    if (state.permit?.id === p.id) item.classList.add("selected");
    const title = document.createElement("b");
    title.textContent = t("permits.name", { id: p.id });
    const badge = document.createElement("span");
    badge.className = `badge state-${p.state}`;
    badge.textContent = term("permit.state", p.state);
    const who = document.createElement("span");
    who.className = "muted";
    who.textContent = `${companyName(p.company_id)} · ${p.valid_from} → ${p.valid_to}`;
    item.append(title, " ", badge, document.createElement("br"), who);
    item.addEventListener("click", () => selectPermit(p.id));
    list.append(item);
  }
  $("permit-count").textContent = String(state.permits.length);
  $("permits-empty").hidden = state.permits.length > 0;
}

async function loadPermits() {
  state.permits = await api("/api/v1/permits?limit=1000");
  state.permits.sort((a, b) => b.id - a.id);
  renderList();
}

async function loadCompanies() {
  try {
    for (const c of await api("/api/v1/companies?limit=1000")) state.companies.set(c.id, c.name);
  } catch {
    // names are a nicety: ids are shown without them
  }
}

function showMessage(text, refusals = [], kind = "error") {
  const box = $("message");
  box.hidden = false;
  box.className = `message message-${kind}`;
  $("message-text").textContent = text;
  const list = $("refusals");
  list.replaceChildren();
  for (const r of refusals) {
    const li = document.createElement("li");
    li.dataset.code = r.code;
    const what = document.createElement("b");
    what.textContent = has(`refusal.${r.code}`) ? t(`refusal.${r.code}`) : r.code;
    li.title = r.message;
    li.append(what, t("permits.refusal.sep"), r.message);
    if (r.field) {
      const field = document.createElement("span");
      field.className = "muted";
      field.textContent = ` (${r.field})`;
      li.append(field);
    }
    list.append(li);
  }
}

function clearMessage() {
  $("message").hidden = true;
}

function showError(err) {
  if (err instanceof ApiError && err.body?.error === "permit_refused") {
    showMessage(t("permits.refused"), err.body.details || []);
  } else if (err instanceof ApiError && Array.isArray(err.body?.details)) {
    showMessage(errorText(err.body, err.status), err.body.details.filter((d) => d.code));
  } else {
    showMessage(err instanceof ApiError ? errorText(err.body, err.status) : String(err));
  }
}

function renderPermit(p) {
  $("permit").hidden = false;
  $("permit").dataset.state = p.state;
  $("permit-title").textContent = t("permits.name", { id: p.id });
  $("permit-state").textContent = term("permit.state", p.state);
  $("permit-state").dataset.state = p.state;
  $("permit-state").className = `badge state-${p.state}`;
  const facts = {
    company: companyName(p.company_id),
    vehicles: p.vehicle_ids.map((v) => placeName("vehicle", v)).join(t("list.sep")),
    sites: p.site_ids.map((v) => placeName("site", v)).join(t("list.sep")),
    yards: p.yard_ids.map((v) => placeName("yard", v)).join(t("list.sep")),
    corridors: p.corridors.map((c) => t("permits.corridor.width", { m: c.half_width_m })).join(t("list.sep")) || t("none"),
    valid: `${p.valid_from} → ${p.valid_to}`,
    // local wall-clock times of the city, labelled with its zone (GET /api/v1/config)
    windows: `${p.windows.map((w) => `${w.start}–${w.end}`).join(t("list.sep"))} (${basemap.timeZone})`,
    quota: t("units.m3", { value: formatNumber(p.quota_m3) }),
  };
  if (p.note) facts.note = p.note;
  if (p.reason) facts.reason = p.reason;
  const dl = $("permit-facts");
  dl.replaceChildren();
  for (const [k, value] of Object.entries(facts)) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = t(`permits.fact.${k}`);
    dd.textContent = value;
    dd.dataset.fact = k;
    dl.append(dt, dd);
  }
  for (const el of document.querySelectorAll("#permit [data-for]")) {
    el.hidden = !el.dataset.for.split(" ").includes(p.state);
  }
  $("accept-proposal").hidden = !(state.proposal && ["draft", "rejected"].includes(p.state));
}

async function drawPermit(p) {
  permitLayer.clearLayers();
  const places = await Promise.allSettled([
    ...p.site_ids.map((id) => api(`/api/v1/sites/${id}`).then((s) => ["site", s])),
    ...p.yard_ids.map((id) => api(`/api/v1/yards/${id}`).then((y) => ["yard", y])),
  ]);
  for (const r of places) {
    if (r.status !== "fulfilled") continue;
    const [role, place] = r.value;
    draw(permitLayer, place.geometry, role, t("map.fence.tooltip", { role: term("fence", role), name: place.name }));
  }
  p.corridors.forEach((c, i) => draw(permitLayer, c.geometry, "corridor", t("permits.corridor", { i: i + 1, m: c.half_width_m })));
  const bounds = L.featureGroup([...permitLayer.getLayers(), ...proposalLayer.getLayers()]).getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: 17 });
}

async function selectPermit(id, { keepMessage = false } = {}) {
  if (state.permit?.id !== id) {
    drawer.stop();
    state.proposal = null;
    proposalLayer.clearLayers();
    $("proposal").hidden = true;
  }
  if (!keepMessage) clearMessage();
  try {
    state.permit = await api(`/api/v1/permits/${id}`);
  } catch (err) {
    showError(err);
    return;
  }
  delete $("permit").dataset.drawn;
  await loadNames(state.permit);
  renderPermit(state.permit);
  renderList();
  await drawPermit(state.permit);
  $("permit").dataset.drawn = String(id); // the map shows this permit (read by the tests)
}

function permitBody(p, corridors) {
  return {
    company_id: p.company_id,
    vehicle_ids: p.vehicle_ids,
    site_ids: p.site_ids,
    yard_ids: p.yard_ids,
    corridors: corridors.map((c) => ({ geometry: c.geometry, half_width_m: c.half_width_m })),
    valid_from: p.valid_from,
    valid_to: p.valid_to,
    windows: p.windows,
    quota_m3: p.quota_m3,
    note: p.note,
  };
}

/** Run an action on the selected permit, then show the permit as it now stands. */
async function act(action, success) {
  const p = state.permit;
  if (!p) return;
  const buttons = document.querySelectorAll("#permit button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await action(p);
    await loadPermits();
    await selectPermit(p.id);
    if (success) showMessage(success, [], "ok");
  } catch (err) {
    showError(err);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function propose(p) {
  const ask = {
    site_id: p.site_ids[0],
    yard_id: p.yard_ids[0],
    half_width_m: p.corridors[0]?.half_width_m ?? 50,
    windows: p.windows,
  };
  const found = await api("/api/v1/permits/propose-corridor", { method: "POST", body: ask });
  state.proposal = found;
  proposalLayer.clearLayers();
  draw(proposalLayer, found.geometry, "proposal", t("permits.proposal.label"), { dashArray: "8 6" });
  const zones = found.avoided_zone_ids.map((z) => state.places.get(`zone:${z}`) || String(z)).join(t("list.sep"));
  const avoided = found.avoided_zone_ids.length ? t("permits.proposal.avoids", { zones }) : "";
  $("proposal").hidden = false;
  $("proposal").dataset.lengthM = String(Math.round(found.length_m));
  $("proposal").textContent = t("permits.proposal", {
    length: t("units.m", { value: formatNumber(Math.round(found.length_m)) }),
    m: found.half_width_m,
    start: found.start_gap_m,
    end: found.end_gap_m,
    avoided,
  });
}

function wire() {
  $("permits-reload").addEventListener("click", () => loadPermits().catch(showError));
  $("propose").addEventListener("click", () => act(propose));
  $("accept-proposal").addEventListener("click", () =>
    act(async (p) => {
      const body = permitBody(p, [state.proposal]);
      await api(`/api/v1/permits/${p.id}`, { method: "PUT", body });
      state.proposal = null;
      proposalLayer.clearLayers();
      $("proposal").hidden = true;
    }, t("permits.accepted")),
  );
  $("submit").addEventListener("click", () =>
    act((p) => api(`/api/v1/permits/${p.id}/submit`, { method: "POST" }), t("permits.submitted")),
  );
  $("approve").addEventListener("click", () =>
    act((p) => api(`/api/v1/permits/${p.id}/approve`, { method: "POST" }), t("permits.approved")),
  );
  $("draw-start").addEventListener("click", () => {
    clearMessage();
    drawer.start(state.permit?.corridors[0]?.half_width_m);
  });
  $("draw-cancel").addEventListener("click", () => drawer.stop());
  $("draw-save").addEventListener("click", () =>
    act(async (p) => {
      await api(`/api/v1/permits/${p.id}`, { method: "PUT", body: permitBody(p, [drawer.corridor()]) });
      drawer.stop();
    }, t("permits.drawn")),
  );
  $("reject-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const reason = $("reject-reason").value.trim();
    act((p) => api(`/api/v1/permits/${p.id}/reject`, { method: "POST", body: { reason } }), t("permits.rejected")).then(
      () => ($("reject-reason").value = ""),
    );
  });
}

async function loadRoads() {
  if (!config.roads) return;
  const resp = await fetch(config.roads);
  if (!resp.ok) return; // no road network imported: the page works without it
  L.geoJSON(await resp.json(), { style: { color: "#adb5bd", weight: 2, interactive: false }, coordsToLatLng }).addTo(roadLayer);
}

async function start() {
  await ensureToken();
  showUser();
  wire();
  loadRoads().catch(() => {});
  await loadCompanies();
  try {
    await loadPermits();
  } catch (err) {
    showError(err);
  }
  const wanted = Number(params.get("permit"));
  if (wanted) await selectPermit(wanted);
  document.body.dataset.ready = "true";
}

start();
