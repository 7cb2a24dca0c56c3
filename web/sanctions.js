// The public page (no sign-in): blacklisted vehicles and companies graded D, as published.
import { applyI18n, formatDateTime, register, t } from "./i18n.js";
import common from "./locales/common.js";
import cases from "./locales/cases.js";

register(common);
register(cases);
const $ = (id) => document.getElementById(id);

async function main() {
  applyI18n();
  const resp = await fetch("/api/v1/public/sanctions");
  const data = await resp.json();
  const tbl = $("vehicles");
  const head = document.createElement("tr");
  for (const h of [t("sanctions.plate"), t("cases.company"), t("sanctions.since"), t("sanctions.reason")]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  tbl.append(head);
  for (const v of data.vehicles) {
    const tr = document.createElement("tr");
    tr.dataset.plate = v.plate;
    for (const value of [v.plate, v.company ?? "—", formatDateTime(v.since, "Asia/Shanghai"), v.reason]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    tbl.append(tr);
  }
  $("vehicles-none").hidden = data.vehicles.length > 0;
  for (const c of data.companies) {
    const li = document.createElement("li");
    li.dataset.companyId = String(c.company_id);
    li.textContent = `${c.name} · ${t("assess.grade")} ${c.grade}`;
    $("companies").append(li);
  }
  $("companies-none").hidden = data.companies.length > 0;
  $("sanctions").dataset.loaded = "1";
}

main();
