// An officer's actions on the incident open in the evidence panel: confirm or dismiss an open
// incident, close a confirmed or dismissed one, each with a note (POST /api/v1/incidents/{id}/
// confirm | dismiss | close). The new status shows in the panel and on the feed's item.
import { apiSend, checkForm, clearErrors, el, showApiError } from "./forms-api.js";
import { t } from "./i18n.js";

const ACTIONS = { open: ["confirm", "dismiss"], confirmed: ["close"], dismissed: ["close"], closed: [] };

/** Marks the live feed's item of an incident with its status. */
function markFeed(incidentId, status) {
  const item = document.querySelector(`.incident-item[data-incident-id="${CSS.escape(incidentId)}"]`);
  if (!item) return;
  item.dataset.status = status;
  let badge = item.querySelector(".incident-status");
  if (!badge) {
    badge = el("span", { class: "badge incident-status" });
    item.append(" ", badge);
  }
  badge.textContent = t(`forms.incident.status.${status}`);
}

/** The actions' styles, added once to the page that uses them (the live map). */
function addStyles() {
  if (document.querySelector('link[href="incident-actions.css"]')) return;
  document.head.append(el("link", { rel: "stylesheet", href: "incident-actions.css" }));
}

export function incidentActions(panel) {
  addStyles();
  const form = el("form", { id: "incident-actions", class: "incident-actions", novalidate: true });
  const status = el("p", { id: "incident-status", class: "badge" });
  const note = el("textarea", { id: "incident-note", name: "note", rows: 2, maxlength: 2000, required: true, placeholder: t("forms.incident.note_hint") });
  const buttons = el("div", { class: "actions" });
  form.append(status, el("label", {}, el("span", { text: t("forms.incident.note") }), note), el("p", { class: "form-error", role: "alert", hidden: true }), buttons);
  panel.querySelector("#evidence-close")?.before(form);
  let current = null;

  function render() {
    form.hidden = !current;
    if (!current) return;
    form.dataset.status = current.status;
    status.textContent = t(`forms.incident.status.${current.status}`);
    buttons.replaceChildren(
      ...(ACTIONS[current.status] ?? []).map((action) =>
        el("button", { type: "button", id: `incident-${action}`, dataset: { action }, text: t(`forms.incident.${action}`), onclick: () => act(action) }),
      ),
    );
    note.hidden = !(ACTIONS[current.status] ?? []).length;
  }

  async function act(action) {
    note.value = note.value.trim();
    if (!checkForm(form)) return;
    try {
      const row = await apiSend("POST", `/api/v1/incidents/${encodeURIComponent(current.incident_id)}/${action}`, { note: note.value.trim() });
      current = { ...current, status: row.status ?? current.status };
      note.value = "";
      markFeed(current.incident_id, current.status);
      render();
    } catch (err) {
      showApiError(form, err);
    }
  }

  return {
    show(incident) {
      current = incident ? { incident_id: incident.incident_id, status: incident.status } : null;
      clearErrors(form);
      note.value = "";
      render();
      if (incident) markFeed(incident.incident_id, incident.status);
    },
  };
}
