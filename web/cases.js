// The case page: a unit's queue (filtered by state and unit, keyset-paged), a case's detail with
// its timeline, evidence links, notices and the actions this account may take; for a company
// account also its portal (notices, consent to electronic delivery, statement or acceptance).
// Times are shown in the city's zone. The token comes from token.js (never the query string).
import { $, ApiError, ensureToken } from "./common.js";
import { cityTimeZone, localToInstant } from "./forms-api.js";
import { applyI18n, errorText, formatDateTime, formatNumber, locale, register, setLocale, t } from "./i18n.js";
import common from "./locales/common.js";
import cases from "./locales/cases.js";
import { exportButton } from "./exports.js";

register(common);
register(cases);
let cityTz = "Asia/Shanghai"; // replaced by the server's city zone at start (GET /api/v1/config)
const STATES = ["opened", "reviewed", "dispatched", "notified", "stated", "accepted", "decided",
  "delivered", "executed", "closed", "dismissed"];
const view = { after: null, next: null, units: new Map(), selected: null, loads: 0 };
window.trackerCases = view; // read by the browser tests

async function send(path, method = "GET", body) {
  const token = await ensureToken();
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

const when = (value) => formatDateTime(value, cityTz);
const stateName = (s) => t(`state.${s}`);
const el = (tag, text, attrs = {}) => {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

function subtypeName(c) {
  return locale() === "en" ? c.subtype_en ?? c.subtype : c.subtype_zh ?? c.subtype;
}

async function loadQueue() {
  const query = new URLSearchParams({ limit: "20" });
  if ($("filter-state").value) query.set("state", $("filter-state").value);
  if ($("filter-unit").value) query.set("unit_id", $("filter-unit").value);
  if ($("filter-overdue").checked) query.set("overdue", "true");
  if (view.after) query.set("after", view.after);
  const data = await send(`/api/v1/cases?${query}`);
  const body = $("queue").querySelector("tbody");
  body.replaceChildren();
  for (const c of data.cases) {
    const row = el("tr", null, { "data-case-id": String(c.id), "data-state": c.state });
    row.append(el("td", String(c.id)), el("td", subtypeName(c)), el("td", stateName(c.state)),
      el("td", c.unit_name ?? "—"), el("td", c.company_name ?? "—"), el("td", when(c.opened_at)),
      el("td", c.escalated_at ? `${when(c.due_at)} ⚠` : when(c.due_at)));
    row.addEventListener("click", () => showCase(c.id));
    body.append(row);
  }
  $("queue-empty").hidden = data.cases.length > 0;
  view.next = data.next_after;
  $("next").disabled = !view.next;
  view.loads += 1;
  $("queue").dataset.loaded = String(view.loads);
}

function showActions(c) {
  const box = $("action-buttons");
  box.replaceChildren();
  for (const action of c.actions) {
    const button = el("button", t(`action.${action}`), { type: "button", "data-action": action });
    button.addEventListener("click", () => openForm(action));
    box.append(button);
  }
  $("no-actions").hidden = c.actions.length > 0;
  $("action-form").hidden = true;
}

function openForm(action) {
  $("action-name").value = action;
  for (const label of $("action-form").querySelectorAll("[data-needs]")) {
    label.hidden = !label.dataset.needs.split(" ").includes(action);
  }
  $("action-form").hidden = false;
  $("action-form").dataset.action = action;
}

function formBody(action) {
  const body = { note: $("f-note").value };
  const penalty = $("f-penalty").value;
  if ((action === "notify" || action === "decide") && penalty) body.penalty_cny = Number(penalty);
  if (action === "dispatch" && $("f-unit").value) body.unit_id = Number($("f-unit").value);
  if (action === "state") {
    body.statement = $("f-statement").value || undefined;
    body.hearing = $("f-hearing").checked;
  }
  if (action === "state" || action === "accept") body.signature = $("f-signature").value || undefined;
  if (action === "deliver") body.method = $("f-method").value;
  if (action === "execute") body.outcome = $("f-outcome").value;
  if (action === "hear") {
    body.minutes = $("f-minutes").value || undefined;
    if ($("f-held-at").value) body.held_at = localToInstant($("f-held-at").value, cityTz);
  }
  return body;
}

function say(text, ok) {
  $("message").textContent = text;
  $("message").dataset.ok = ok ? "1" : "0";
  $("message").hidden = false;
}

async function act(event) {
  event.preventDefault();
  const action = $("action-name").value;
  try {
    await send(`/api/v1/cases/${view.selected}/${action}`, "POST", formBody(action));
    say(t("cases.done", { action: t(`action.${action}`) }), true);
    await showCase(view.selected, true);
    await loadQueue();
    await loadPortal();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    say(errorText(err.body, err.status), false);
  }
}

function fact(dl, label, value) {
  dl.append(el("dt", label), el("dd", value ?? "—"));
}

async function showCase(id, keepMessage = false) {
  const c = await send(`/api/v1/cases/${id}`);
  view.selected = id;
  $("detail").hidden = false;
  $("detail").dataset.caseId = String(id);
  $("detail-id").textContent = `#${c.id}`;
  $("detail-state").textContent = stateName(c.state);
  $("detail-state").dataset.state = c.state;
  if (!keepMessage) $("message").hidden = true;
  const dl = $("detail-facts");
  dl.replaceChildren();
  const info = c.subtype_info ?? {};
  fact(dl, t("cases.subtype"), locale() === "en" ? info.name_en : info.name_zh);
  fact(dl, t("cases.opened"), when(c.opened_at));
  fact(dl, t("cases.due"), when(c.due_at));
  if (c.party_due_at) fact(dl, t("cases.partyDue"), when(c.party_due_at));
  if (c.escalated_at) fact(dl, t("cases.overdue"), when(c.escalated_at));
  if (c.penalty_cny != null) fact(dl, t("cases.penalty"), `¥${formatNumber(c.penalty_cny)}`);
  fact(dl, "", c.facts);
  const evidence = $("evidence");
  evidence.replaceChildren();
  for (const link of c.evidence) {
    const item = el("li");
    item.append(el("a", link.kind === "decision" ? t("cases.decision") : t("cases.incident"),
      { href: link.href, "data-kind": link.kind, target: "_blank", rel: "noopener" }));
    evidence.append(item);
  }
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const e of c.timeline) {
    const item = el("li", `${when(e.at)} · ${t(`action.${e.action}`)} · ${e.event.actor?.username ?? ""}${e.event.note ? ` · ${e.event.note}` : ""}`,
      { "data-action": e.action, title: e.hash });
    timeline.append(item);
  }
  renderNotices($("notices"), c.notices);
  showActions(c);
}

function renderNotices(list, notices) {
  list.replaceChildren();
  for (const n of notices) {
    const extra = n.body.penalty_cny ? ` · ¥${formatNumber(Number(n.body.penalty_cny))}` : "";
    const item = el("li", `${when(n.at)} · ${t(`notice.${n.kind}`)} · #${n.case_id}${extra}`,
      { "data-kind": n.kind, "data-case-id": String(n.case_id) });
    item.addEventListener("click", () => showCase(n.case_id));
    list.append(item);
  }
}

async function loadPortal() {
  try {
    const data = await send("/api/v1/cases/notices");
    $("portal").hidden = false;
    renderNotices($("portal-notices"), data.notices);
    $("portal-empty").hidden = data.notices.length > 0;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    $("portal").hidden = true; // staff accounts have no portal
  }
}

async function loadUnits() {
  try {
    const data = await send("/api/v1/units");
    for (const u of data.units) {
      view.units.set(u.id, u.name);
      $("filter-unit").append(el("option", u.name, { value: String(u.id) }));
    }
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    $("filter-unit").closest("label").hidden = true;
  }
}

async function main() {
  applyI18n();
  for (const s of STATES) $("filter-state").append(el("option", stateName(s), { value: s }));
  // the queue's filters (state, unit) over the cases opened in the last year
  const shown = () => ({ status: $("filter-state").value, unit_id: $("filter-unit").value, since: new Date(Date.now() - 365 * 86_400_000) });
  $("case-exports").append(exportButton("cases", shown), " ", exportButton("cases", shown, { format: "xlsx" }));
  $("locale").addEventListener("click", () => {
    setLocale(locale() === "en" ? "zh-CN" : "en");
    location.reload();
  });
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    view.after = null;
    loadQueue();
  });
  $("next").addEventListener("click", () => {
    view.after = view.next;
    loadQueue();
  });
  $("first").addEventListener("click", () => {
    view.after = null;
    loadQueue();
  });
  $("action-form").addEventListener("submit", act);
  $("consent").addEventListener("click", async () => {
    await send("/api/v1/cases/e-delivery-consent", "POST");
    $("consent").textContent = t("cases.consent.done");
    $("consent").disabled = true;
  });
  await ensureToken();
  cityTz = await cityTimeZone();
  await loadUnits();
  await loadPortal();
  await loadQueue();
}

main();
