// An editor for daily windows (yard opening hours, permit windows) and weekly ones (zone
// schedules: weekdays 1 Monday … 7 Sunday): local wall-clock "HH:MM" start and end, the end before
// the start running past midnight. Inputs are named "<field>.<i>.start" etc., so an API error
// naming "schedule.1.end" lands next to that input.
import { el } from "./forms-api.js";
import { t } from "./i18n.js";

const DAYS = [1, 2, 3, 4, 5, 6, 7];

export function windowsEditor(container, { field, weekly = false, required = false }) {
  container.dataset.field = field;
  container.classList.add("windows");
  const rows = el("ol", { class: "window-rows" });
  const add = el("button", { type: "button", class: "small window-add", text: t("forms.window_add") });
  container.replaceChildren(rows, add);

  function addRow(window = { start: "", end: "", days: DAYS }) {
    const li = el("li", { class: "window-row" });
    const index = () => [...rows.children].indexOf(li);
    const name = (key) => `${field}.${rows.children.length}.${key}`;
    const start = el("input", { type: "time", name: name("start"), required: true, value: window.start, "aria-label": t("forms.window_start") });
    const end = el("input", { type: "time", name: name("end"), required: true, value: window.end, "aria-label": t("forms.window_end") });
    li.append(start, el("span", { text: "–" }), end);
    if (weekly) {
      const days = el("span", { class: "weekdays", "data-field": name("days") });
      for (const d of DAYS) {
        const box = el("input", { type: "checkbox", value: String(d), checked: (window.days ?? DAYS).includes(d) });
        days.append(el("label", { class: "weekday" }, box, t(`forms.day_${d}`)));
      }
      li.append(days);
    }
    const remove = el("button", { type: "button", class: "small window-remove", text: t("forms.window_remove") });
    remove.addEventListener("click", () => {
      li.remove();
      renumber();
    });
    li.append(remove);
    li.dataset.index = String(index());
    rows.append(li);
  }

  function renumber() {
    [...rows.children].forEach((li, i) => {
      for (const input of li.querySelectorAll("input[name]")) input.name = input.name.replace(/\.\d+\./, `.${i}.`);
      const days = li.querySelector(".weekdays");
      if (days) days.dataset.field = `${field}.${i}.days`;
    });
  }

  add.addEventListener("click", () => addRow());

  return {
    set(windows) {
      rows.replaceChildren();
      for (const w of windows ?? []) addRow(w);
      if (required && !rows.children.length) addRow();
    },
    value() {
      return [...rows.children].map((li) => {
        const [start, end] = li.querySelectorAll("input[type=time]");
        const out = { start: start.value, end: end.value };
        if (weekly) out.days = [...li.querySelectorAll(".weekdays input:checked")].map((b) => Number(b.value));
        return out;
      });
    },
    /** The page's checks: [field, catalog key] for each problem. */
    problems() {
      const found = [];
      if (required && !rows.children.length) found.push([field, "forms.window_needed"]);
      [...rows.children].forEach((li, i) => {
        const [start, end] = li.querySelectorAll("input[type=time]");
        if (start.value && start.value === end.value) found.push([`${field}.${i}.end`, "forms.window_empty"]);
        if (weekly && !li.querySelector(".weekdays input:checked")) found.push([`${field}.${i}.days`, "forms.days_needed"]);
      });
      return found;
    },
  };
}
