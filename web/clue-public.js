// The report form on the public vehicle page (/v/{code}): no sign-in. The place is the phone's
// position or a point clicked on the small map (tiles as on the live map: the stored
// `tracker.tiles` URL, else a blank map); the answer is a receipt code, which the second form
// looks up (status only).

import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { applyI18n, register, t, usePageLocale } from "./i18n.js";
import common from "./locales/common.js";
import clues from "./locales/clues.js";
import { Place, clueBody, localNow, send } from "./report.js";

register(common);
register(clues);
const $ = (id) => document.getElementById(id);
const form = $("clue-form");
const code = form.dataset.code;
const maxPhotos = Number(form.dataset.maxPhotos || 3);
usePageLocale(); // the server chose the page's language (its ?lang= switch)
applyI18n($("report"));
$("photos-label").textContent = t("clues.photos", { max: maxPhotos });
form.elements.observed_at.value = localNow();

const place = new Place($("place"));
const map = L.map("pick-map", { zoomControl: true }).setView(
  [Number(form.dataset.lat || 22.817), Number(form.dataset.lon || 108.366)],
  13,
);
const tiles = localStorage.getItem("tracker.tiles");
if (tiles) L.tileLayer(tiles, { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(map);
let marker = null;
place.onchange = ({ lon, lat }) => {
  if (marker) marker.setLatLng([lat, lon]);
  else marker = L.circleMarker([lat, lon], { radius: 7, color: "#c62828" }).addTo(map);
  map.panTo([lat, lon]);
};
map.on("click", (e) => place.set(e.latlng.lng, e.latlng.lat));
$("locate").addEventListener("click", () => place.locate());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("report-message");
  message.hidden = false;
  message.dataset.kind = "info";
  message.textContent = t("clues.sending");
  try {
    const body = await clueBody(form, place, maxPhotos);
    const answer = await send(`/api/v1/public/vehicles/${code}/clues`, body);
    message.dataset.kind = "ok";
    message.textContent = `${t("clues.receipt")} `;
    const receipt = document.createElement("b");
    receipt.id = "receipt";
    receipt.textContent = answer.receipt;
    message.append(receipt, ` ${t("clues.receipt.hint")}`);
    form.reset();
    form.elements.observed_at.value = localNow();
    $("status-code").value = answer.receipt;
  } catch (err) {
    message.dataset.kind = "error";
    message.dataset.field = err.field ?? "";
    message.textContent = err.message;
  }
});

$("status-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("status-out");
  const receipt = encodeURIComponent($("status-code").value.trim());
  const resp = await fetch(`/api/v1/public/clues/${receipt}`);
  const body = await resp.json().catch(() => null);
  out.hidden = false;
  out.dataset.status = resp.ok ? body.status : "";
  out.textContent = resp.ok ? t(`clues.status.${body.status}`) : (body?.message ?? `HTTP ${resp.status}`);
});
