// The grid staff's phone page: a clue with the camera's photos and the phone's position, sent
// with the staff token (token.js: never in the URL). The answer's receipt code is shown.

import { ensureToken } from "./common.js";
import { applyI18n, register, t } from "./i18n.js";
import common from "./locales/common.js";
import clues from "./locales/clues.js";
import { Place, clueBody, localNow, send } from "./report.js";

register(common);
register(clues);
applyI18n();
const $ = (id) => document.getElementById(id);
const form = $("grid-form");
const MAX_PHOTOS = 3;
form.elements.observed_at.value = localNow();
const place = new Place($("place"));
place.locate();
$("locate").addEventListener("click", () => place.locate());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("report-message");
  message.hidden = false;
  message.dataset.kind = "info";
  message.textContent = t("clues.sending");
  try {
    const token = await ensureToken();
    const body = await clueBody(form, place, MAX_PHOTOS);
    const answer = await send("/api/v1/clues", body, { Authorization: `Bearer ${token}` });
    message.dataset.kind = "ok";
    message.textContent = `${t("clues.receipt")} `;
    const receipt = document.createElement("b");
    receipt.id = "receipt";
    receipt.textContent = answer.receipt;
    message.append(receipt);
    form.reset();
    form.elements.observed_at.value = localNow();
  } catch (err) {
    message.dataset.kind = "error";
    message.dataset.field = err.field ?? "";
    message.textContent = err.message;
  }
});
