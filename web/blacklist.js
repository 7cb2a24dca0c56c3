// Blacklist and appeals: the listings (active, or all), a vehicle listed by hand with a reason,
// a listing lifted with a reason; appeals filed by company users against a listing or an
// incident, upheld or rejected by officers with a note. What a role may do decides what it sees.
import { $, api, apiSend, checkForm, cityTimeZone, el, localToInstant, notice, showApiError, startPage } from "./forms-api.js";
import { exportButton } from "./exports.js";
import { formatDateTime, t } from "./i18n.js";

const OFFICERS = ["admin", "permit_officer", "enforcement_officer"];
const state = { me: null, listings: [], appeals: [], vehicles: new Map(), active: new Set(), timeZone: "Asia/Shanghai" };
const when = (v) => (v ? formatDateTime(v, state.timeZone) : "—");

function isOfficer() {
  return OFFICERS.includes(state.me?.role);
}

/** A row's small form: one required text input and buttons; errors shown in the form. */
function rowForm(name, buttons, onSubmit) {
  const input = el("input", { name, required: true, maxlength: 2000, placeholder: t(`forms.blacklist.${name}_hint`) });
  const form = el("form", { class: "row-form", novalidate: true }, input, ...buttons, el("p", { class: "form-error", role: "alert", hidden: true }));
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      input.value = input.value.trim();
      if (!checkForm(form)) return;
      try {
        await onSubmit(button.dataset.action, input.value);
      } catch (err) {
        showApiError(form, err);
      }
    });
  }
  form.addEventListener("submit", (ev) => ev.preventDefault());
  return form;
}

function renderListings() {
  const keys = ["plate", "reason", "source", "listed_at", "expires_at", "state"];
  const head = el("tr", {}, ...keys.map((k) => el("th", { text: t(`forms.blacklist.col.${k}`) })), el("th"));
  const body = el("tbody");
  for (const l of state.listings) {
    const action = el("td");
    if (l.active && isOfficer()) {
      const button = el("button", { type: "button", class: "small row-delist", dataset: { action: "delist" }, text: t("forms.blacklist.delist") });
      action.append(
        rowForm("reason", [button], async (_, reason) => {
          await apiSend("POST", `/api/v1/blacklist/${l.id}/delist`, { reason });
          notice(t("forms.blacklist.delisted", { plate: l.plate }));
          await reload();
        }),
      );
    }
    const status = l.active ? t("forms.blacklist.active") : `${t("forms.blacklist.lifted")}${l.lifted_reason ? `：${l.lifted_reason}` : ""}`;
    body.append(
      el(
        "tr",
        { dataset: { id: String(l.id), active: String(l.active) } },
        el("td", { text: l.plate }),
        el("td", { text: l.reason }),
        el("td", { text: t(`forms.blacklist.source.${l.source}`) }),
        el("td", { text: when(l.listed_at) }),
        el("td", { text: when(l.expires_at) }),
        el("td", { text: status }),
        action,
      ),
    );
  }
  $("listings").replaceChildren(el("thead", {}, head), body);
  $("listings-empty").hidden = state.listings.length > 0;
  const select = $("appeal-form").elements.listing_id;
  select.replaceChildren(
    el("option", { value: "", text: t("forms.none") }),
    ...state.listings.filter((l) => l.active).map((l) => el("option", { value: String(l.id), text: `${l.plate} · ${l.reason}` })),
  );
}

/** The trucks that may be listed: active ones without an active listing. */
function renderListable() {
  const listed = new Set(state.listings.filter((l) => l.active).map((l) => l.vehicle_id));
  const select = $("list-form").elements.vehicle_id;
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "", text: t("forms.none") }),
    ...[...state.vehicles].filter(([id]) => state.active.has(id) && !listed.has(id)).map(([id, plate]) => el("option", { value: String(id), text: plate })),
  );
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

function renderAppeals() {
  const keys = ["plate", "target", "statement", "filed_at", "state", "decision_note"];
  const head = el("tr", {}, ...keys.map((k) => el("th", { text: t(`forms.blacklist.col.${k}`) })), el("th"));
  const body = el("tbody");
  for (const a of state.appeals) {
    const action = el("td");
    if (a.status === "pending" && isOfficer()) {
      const uphold = el("button", { type: "button", class: "small appeal-uphold", dataset: { action: "uphold" }, text: t("forms.blacklist.uphold") });
      const reject = el("button", { type: "button", class: "small appeal-reject", dataset: { action: "reject" }, text: t("forms.blacklist.reject") });
      action.append(
        rowForm("note", [uphold, reject], async (decision, note) => {
          await apiSend("POST", `/api/v1/appeals/${a.id}/${decision}`, { note });
          notice(t(`forms.blacklist.decided_${decision}`));
          await reload();
        }),
      );
    }
    const target = a.listing_id != null ? t("forms.blacklist.target_listing", { id: a.listing_id }) : t("forms.blacklist.target_incident", { id: a.incident_id });
    body.append(
      el(
        "tr",
        { dataset: { id: String(a.id), status: a.status } },
        el("td", { text: state.vehicles.get(a.vehicle_id) ?? String(a.vehicle_id) }),
        el("td", { text: target }),
        el("td", { text: a.statement }),
        el("td", { text: when(a.filed_at) }),
        el("td", { text: t(`forms.blacklist.status.${a.status}`) }),
        el("td", { text: a.decision_note ?? "—" }),
        action,
      ),
    );
  }
  $("appeals").replaceChildren(el("thead", {}, head), body);
  $("appeals-empty").hidden = state.appeals.length > 0;
}

async function reload() {
  const active = $("show-lifted").checked ? "false" : "true";
  [state.listings, state.appeals] = await Promise.all([api(`/api/v1/blacklist?active=${active}&limit=500`), api("/api/v1/appeals?limit=500")]);
  renderListings();
  renderListable();
  renderAppeals();
  document.body.dataset.loaded = String(Date.now());
}

async function listVehicle(ev) {
  ev.preventDefault();
  const form = ev.target;
  if (!checkForm(form)) return;
  const { vehicle_id: vehicle, reason, expires_at: expires } = form.elements;
  const body = { vehicle_id: Number(vehicle.value), reason: reason.value.trim() };
  if (expires.value) body.expires_at = localToInstant(expires.value, state.timeZone);
  try {
    const listing = await apiSend("POST", "/api/v1/blacklist", body);
    notice(t("forms.blacklist.listed", { plate: listing.plate }));
    form.reset();
    await reload();
  } catch (err) {
    showApiError(form, err);
  }
}

async function fileAppeal(ev) {
  ev.preventDefault();
  const form = ev.target;
  const { listing_id: listing, incident_id: incident, statement } = form.elements;
  const extra = () => (Boolean(listing.value) === Boolean(incident.value.trim()) ? [["listing_id", "forms.blacklist.one_target"]] : []);
  if (!checkForm(form, extra)) return;
  const body = { statement: statement.value.trim() };
  if (listing.value) body.listing_id = Number(listing.value);
  else body.incident_id = incident.value.trim();
  try {
    await apiSend("POST", "/api/v1/appeals", body);
    notice(t("forms.blacklist.filed"));
    form.reset();
    await reload();
  } catch (err) {
    showApiError(form, err);
  }
}

async function main() {
  await startPage();
  state.timeZone = await cityTimeZone();
  state.me = await api("/api/v1/auth/me");
  const vehicles = await api("/api/v1/vehicles?limit=1000");
  state.vehicles = new Map(vehicles.map((v) => [v.id, v.plate]));
  state.active = new Set(vehicles.filter((v) => v.active).map((v) => v.id));
  $("list-section").hidden = !isOfficer();
  $("appeal-section").hidden = state.me.role !== "company_user";
  $("list-form").addEventListener("submit", listVehicle);
  $("appeal-form").addEventListener("submit", fileAppeal);
  $("show-lifted").addEventListener("change", reload);
  // what the table shows: the active listings, or with the lifted ones; listed in the last year
  const shown = () => ({ active: $("show-lifted").checked ? null : true, since: new Date(Date.now() - 365 * 86_400_000) });
  $("blacklist-exports").append(exportButton("blacklist", shown), " ", exportButton("blacklist", shown, { format: "xlsx" }));
  await reload();
}

main().catch((err) => notice(err.message, "error"));
