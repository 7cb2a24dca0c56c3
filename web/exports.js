// Export buttons for the console pages: exportButton(kind, params) gives a <button> that
// downloads GET /api/v1/exports/{kind} (tracker.exports) with the page's filters. The token goes
// in the Authorization header (token.js), never in the URL, so the file is fetched and handed to
// the browser as a blob. Headers are Chinese unless the page is in English. exportJob() runs a
// long export as a job (POST /api/v1/exports/jobs), reporting its percent while it runs.
import { errorText, locale, register, t } from "./i18n.js";
import words from "./locales/exports.js";
import { takeToken } from "./token.js";

register(words);

function query(params, format) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value != null && value !== "") q.set(key, value instanceof Date ? value.toISOString() : String(value));
  }
  q.set("format", format);
  q.set("headers", locale() === "en" ? "en" : "zh");
  return q;
}

function auth() {
  return { Authorization: `Bearer ${takeToken()}` };
}

function fileName(resp, fallback) {
  const header = resp.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="([^"]+)"/i.exec(header);
  return plain ? plain[1] : fallback;
}

async function save(resp, fallback) {
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName(resp, fallback);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function failure(resp) {
  const body = await resp.json().catch(() => null);
  if (resp.status === 429) return t("exports.too_many");
  return errorText(body, resp.status) + (body?.message && body?.field ? ` (${body.message})` : "");
}

/** Download one export now; resolves to the row count, throws an Error with words on failure. */
export async function downloadExport(kind, params = {}, format = "csv") {
  const resp = await fetch(`/api/v1/exports/${encodeURIComponent(kind)}?${query(params, format)}`, { headers: auth() });
  if (!resp.ok) throw new Error(await failure(resp));
  await save(resp, `${kind}.${format}`);
  return Number(resp.headers.get("X-Export-Rows") || 0);
}

/** Run an export as a job: onProgress(percent) while it runs, then the file is downloaded. */
export async function exportJob(kind, params = {}, format = "csv", onProgress = () => {}) {
  const body = { kind, format, headers: locale() === "en" ? "en" : "zh", params: Object.fromEntries(query(params, format)) };
  delete body.params.format;
  delete body.params.headers;
  let resp = await fetch("/api/v1/exports/jobs", {
    method: "POST",
    headers: { ...auth(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new Error(await failure(resp));
  let job = await resp.json();
  while (job.state === "running") {
    onProgress(job.percent);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    resp = await fetch(`/api/v1/exports/jobs/${job.id}`, { headers: auth() });
    if (!resp.ok) throw new Error(await failure(resp));
    job = await resp.json();
  }
  if (job.state !== "done") throw new Error(job.error || job.state);
  resp = await fetch(`/api/v1/exports/jobs/${job.id}/file`, { headers: auth() });
  if (!resp.ok) throw new Error(await failure(resp));
  await save(resp, `${kind}.${format}`);
  return job.rows_done;
}

/** A button that exports kind with params (an object, or a function giving the current one).
 * Its data-state is idle, busy, done or error; its title says what happened. */
export function exportButton(kind, params = {}, { format = "csv", job = false } = {}) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "export-button";
  button.dataset.export = `${kind}.${format}`;
  button.dataset.state = "idle";
  button.textContent = t("exports.button", { format: format.toUpperCase() });
  button.addEventListener("click", async () => {
    if (button.dataset.state === "busy") return;
    button.dataset.state = "busy";
    button.title = t("exports.busy");
    const current = typeof params === "function" ? params() : params;
    try {
      const rows = job
        ? await exportJob(kind, current, format, (percent) => (button.title = t("exports.progress", { percent })))
        : await downloadExport(kind, current, format);
      button.dataset.rows = String(rows);
      button.dataset.state = "done";
      button.title = t("exports.done", { rows });
    } catch (err) {
      button.dataset.state = "error";
      button.title = t("exports.failed", { reason: err.message });
    }
  });
  return button;
}
