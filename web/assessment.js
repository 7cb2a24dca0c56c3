// The assessment dashboard: per unit and per district, cases by state, moves on time, closure,
// reopen and party-feedback rates, mean time per stage; per company, cases, fines and grade.
import { $, api, ensureToken } from "./common.js";
import { applyI18n, formatNumber, register, t } from "./i18n.js";
import common from "./locales/common.js";
import cases from "./locales/cases.js";

register(common);
register(cases);

const rate = (v) => (v == null ? "—" : `${formatNumber(Math.round(v * 1000) / 10)} %`);
const hours = (s) => {
  if (s == null) return "—";
  if (s < 3600) return `${formatNumber(Math.round(s / 6) / 10)} min`;
  return `${formatNumber(Math.round(s / 360) / 10)} h`;
};

function table(id, head, rows) {
  const tbl = $(id);
  tbl.replaceChildren();
  const tr = document.createElement("tr");
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h;
    tr.append(th);
  }
  tbl.append(tr);
  for (const row of rows) {
    const line = document.createElement("tr");
    line.dataset.key = String(row.key);
    for (const [name, value] of row.cells) {
      const td = document.createElement("td");
      td.dataset.col = name;
      td.textContent = value;
      line.append(td);
    }
    tbl.append(line);
  }
}

function groupRows(groups) {
  return groups.map((g) => ({
    key: g.key ?? "none",
    cells: [
      ["name", g.name ?? "—"],
      ["cases", formatNumber(g.cases)],
      ["closed", formatNumber(g.closed)],
      ["overdue", formatNumber(g.overdue)],
      ["on_time", rate(g.on_time_rate)],
      ["closure", rate(g.closure_rate)],
      ["reopen", rate(g.reopen_rate)],
      ["feedback", rate(g.feedback_rate)],
      ["stages", Object.entries(g.stage_mean_s ?? {}).map(([s, v]) => `${t(`state.${s}`)} ${hours(v)}`).join(" · ")],
    ],
  }));
}

async function main() {
  applyI18n();
  await ensureToken();
  const data = await api("/api/v1/cases/assessment");
  const head = [t("assess.name"), t("assess.cases"), t("assess.closed"), t("assess.overdue"),
    t("assess.onTime"), t("assess.closure"), t("assess.reopen"), t("assess.feedback"), t("assess.stages")];
  table("units", head, groupRows(data.units));
  table("districts", head, groupRows(data.districts));
  table("companies", [t("assess.name"), t("assess.cases"), t("assess.decided"), t("assess.penalties"), t("assess.grade")],
    data.companies.map((c) => ({
      key: c.company_id,
      cells: [["name", c.name ?? "—"], ["cases", formatNumber(c.cases)], ["decided", formatNumber(c.decided)],
        ["penalties", formatNumber(c.penalties_cny)], ["grade", c.grade ?? "—"]],
    })));
  $("board").dataset.loaded = "1";
}

main();
