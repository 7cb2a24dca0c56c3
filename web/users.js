// User management (admins): create an account with its role (and company, for company users),
// list the accounts, deactivate one (its tokens are revoked at once).
import { $, api, apiSend, checkForm, cityTimeZone, el, notice, showApiError, startPage } from "./forms-api.js";
import { formatDateTime, t } from "./i18n.js";

const form = $("user-form");
const state = { companies: new Map(), users: [] };

function render() {
  const head = el("tr", {}, ...["username", "role", "company_id", "active", "at"].map((k) => el("th", { text: t(`forms.field.${k}`) })), el("th"));
  const body = el("tbody");
  for (const user of state.users) {
    const action = el("td");
    if (user.active) {
      action.append(el("button", { type: "button", class: "small row-deactivate", text: t("forms.deactivate"), onclick: () => deactivate(user) }));
    }
    body.append(
      el(
        "tr",
        { dataset: { id: String(user.id), active: String(user.active) } },
        el("td", { text: user.username }),
        el("td", { text: t(`forms.role.${user.role}`) }),
        el("td", { text: user.company_id == null ? "—" : state.companies.get(user.company_id) ?? String(user.company_id) }),
        el("td", { text: user.active ? t("forms.yes") : t("forms.no") }),
        el("td", { text: formatDateTime(user.created_at, state.timeZone) }),
        action,
      ),
    );
  }
  $("users").replaceChildren(el("thead", {}, head), body);
}

async function reload() {
  state.users = await api("/api/v1/users");
  render();
  $("users").dataset.loaded = "true";
}

async function deactivate(user) {
  if (!confirm(t("forms.confirm_deactivate", { name: user.username }))) return;
  try {
    await apiSend("DELETE", `/api/v1/users/${user.id}`);
    notice(t("forms.deactivated", { name: user.username }));
    await reload();
  } catch (err) {
    notice(err.message, "error");
  }
}

function companyRole() {
  return form.elements.role.value === "company_user";
}

async function save(ev) {
  ev.preventDefault();
  const extra = () => (companyRole() && !form.elements.company_id.value ? [["company_id", "forms.required"]] : []);
  if (!checkForm(form, extra)) return;
  const body = {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
    role: form.elements.role.value,
    company_id: companyRole() ? Number(form.elements.company_id.value) : null,
  };
  try {
    await apiSend("POST", "/api/v1/users", body);
    notice(t("forms.created", { name: body.username }));
    form.reset();
    $("company-label").hidden = true;
    await reload();
  } catch (err) {
    showApiError(form, err);
  }
}

async function main() {
  await startPage();
  state.timeZone = await cityTimeZone();
  const companies = await api("/api/v1/companies?limit=1000");
  state.companies = new Map(companies.map((c) => [c.id, c.name]));
  const select = form.elements.company_id;
  select.append(el("option", { value: "", text: t("forms.none") }), ...companies.map((c) => el("option", { value: String(c.id), text: c.name })));
  form.elements.role.addEventListener("change", () => {
    $("company-label").hidden = !companyRole();
  });
  form.addEventListener("submit", save);
  await reload();
}

main().catch((err) => notice(err.message, "error"));
