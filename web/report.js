// The clue form shared by the public vehicle page and the grid staff's phone page: kind, text,
// time, place (the device's position, or a point picked on a small map), photos and contact.
// Photos are redrawn on a canvas (at most 1600 px, JPEG) before they are sent: a phone's
// multi-megabyte picture fits the server's limit, and the browser drops its EXIF on the way.

import { errorText, t } from "./i18n.js";

const MAX_EDGE_PX = 1600;

/** A photo file as base64 JPEG, scaled to at most MAX_EDGE_PX on its longer edge. */
export async function photoBase64(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_EDGE_PX / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** The place of the report: { lon, lat, accuracy_m } once known. */
export class Place {
  constructor(label) {
    this.label = label;
    this.value = null;
    this.show();
  }

  set(lon, lat, accuracy_m = null) {
    this.value = { lon: Number(lon.toFixed(6)), lat: Number(lat.toFixed(6)), accuracy_m };
    this.show();
    this.onchange?.(this.value);
  }

  show() {
    this.label.textContent = this.value ? `${this.value.lon}, ${this.value.lat}` : t("clues.where.none");
    this.label.dataset.set = this.value ? "1" : "0";
  }

  /** The device's position (the browser asks the person first). */
  locate() {
    if (!navigator.geolocation) {
      this.label.textContent = t("clues.where.denied");
      return;
    }
    this.label.textContent = t("clues.where.locating");
    navigator.geolocation.getCurrentPosition(
      (pos) => this.set(pos.coords.longitude, pos.coords.latitude, pos.coords.accuracy ?? null),
      () => {
        if (!this.value) this.label.textContent = t("clues.where.denied");
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  }
}

/** A datetime-local input's value for now, in this device's zone. */
export function localNow() {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  return now.toISOString().slice(0, 16);
}

/** The form's fields as the API's body (photos encoded). */
export async function clueBody(form, place, maxPhotos) {
  const data = new FormData(form);
  const files = [...form.querySelector("input[type=file]").files].slice(0, maxPhotos);
  const body = {
    kind: data.get("kind"),
    text: (data.get("text") || "").trim(),
    observed_at: new Date(data.get("observed_at") || Date.now()).toISOString(),
    photos: await Promise.all(files.map(photoBase64)),
    ...(place.value ?? {}),
  };
  const contact = (data.get("contact") || "").trim();
  if (contact) body.contact = contact;
  const plate = (data.get("plate") || "").trim();
  if (plate) body.plate = plate;
  return body;
}

/** POST the body; the answer's JSON, or an Error whose message is the error in words. */
export async function send(url, body, headers = {}) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const answer = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new Error(errorText(answer, resp.status));
    err.field = answer?.field;
    throw err;
  }
  return answer;
}
