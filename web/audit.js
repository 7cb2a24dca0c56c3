// The audit log (admins): who changed what and when, newest first, filtered by entity, id, actor
// and a period entered in the city's local time.
import { $, api, cityTimeZone, checkForm, el, localToInstant, notice, showApiError, startPage, zoneLabel } from "./forms-api.js";
import { formatDateTime, t } from "./i18n.js";

const form = $("audit-filters");
const state = { timeZone: "Asia/Shanghai" };

function summary(value) {
  if (value == null) return "—";
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function render(entries) {
  const keys = ["at", "actor", "action", "entity", "entity_id", "before", "after"];
  const head = el("tr", {}, ...keys.map((k) => el("th", { text: t(`forms.field.${k}`) })));
  const body = el("tbody");
  for (const e of entries) {
    const entity = `forms.audit.entity.${e.entity}`;
    body.append(
      el(
        "tr",
        { dataset: { id: String(e.id), action: e.action, entity: e.entity } },
        el("td", { text: formatDateTime(e.at, state.timeZone) }),
        el("td", { text: e.actor }),
        el("td", { text: e.action }),
        el("td", { text: t(entity) === entity ? e.entity : t(entity) }),
        el("td", { text: e.entity_key ?? (e.entity_id == null ? "—" : String(e.entity_id)) }),
        el("td", { class: "json", text: summary(e.before) }),
        el("td", { class: "json", text: summary(e.after) }),
      ),
    );
  }
  $("audit").replaceChildren(el("thead", {}, head), body);
  $("audit-empty").hidden = entries.length > 0;
}

async function search(ev) {
  ev?.preventDefault();
  const extra = () => {
    const { since, until } = form.elements;
    return since.value && until.value && since.value >= until.value ? [["until", "forms.audit.until_after"]] : [];
  };
  if (!checkForm(form, extra)) return;
  const query = new URLSearchParams({ limit: "200" });
  for (const name of ["entity", "actor"]) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  const id = form.elements.entity_id.value.trim(); // a number, or an incident's text id
  if (id) query.set(/^\d+$/.test(id) ? "entity_id" : "entity_key", id);
  for (const name of ["since", "until"]) {
    const value = form.elements[name].value;
    if (value) query.set(name, localToInstant(value, state.timeZone));
  }
  try {
    render(await api(`/api/v1/audit?${query}`));
    $("audit").dataset.query = query.toString();
  } catch (err) {
    showApiError(form, err);
  }
}

async function main() {
  await startPage();
  state.timeZone = await cityTimeZone();
  $("audit-zone").textContent = zoneLabel(state.timeZone);
  form.addEventListener("submit", search);
  await search();
}

main().catch((err) => notice(err.message, "error"));
