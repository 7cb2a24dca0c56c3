// The pages' words and formats: zh-CN by default, English kept. Words live in catalog modules
// (web/locales/<area>.js, each `export default { "zh-CN": {...}, en: {...} }`), never in code:
// a page registers the catalogs it uses, then asks t("area.key", {name: value}) or marks its
// HTML with data-i18n="key" (text), data-i18n-title / data-i18n-placeholder / data-i18n-aria
// (attributes) and calls applyI18n(). API errors carry stable codes; errorText() translates them.

export const LOCALES = ["zh-CN", "en"];
export const DEFAULT_LOCALE = "zh-CN";
const STORE_KEY = "tracker.locale";
const catalogs = { "zh-CN": {}, en: {} };
let pageLocale = null; // a server-rendered page's own language wins (usePageLocale)

/** The chosen locale: ?lang= is not used (no state in URLs); the switch stores it per browser. */
export function locale() {
  if (pageLocale) return pageLocale;
  let chosen = null;
  try {
    chosen = localStorage.getItem(STORE_KEY);
  } catch {
    chosen = null;
  }
  return LOCALES.includes(chosen) ? chosen : DEFAULT_LOCALE;
}

export function setLocale(value) {
  if (!LOCALES.includes(value)) throw new Error(`unknown locale ${value}`);
  localStorage.setItem(STORE_KEY, value);
}

/** A page the server rendered in a language (<html lang>, e.g. the public vehicle page with
 * its own switch) keeps it: the script's words follow the page, not the stored choice. */
export function usePageLocale() {
  const lang = document.documentElement.lang;
  if (LOCALES.includes(lang)) pageLocale = lang;
}

/** Adds a catalog module's words (later registrations of the same key win). */
export function register(catalog) {
  for (const loc of LOCALES) Object.assign(catalogs[loc], catalog[loc] ?? {});
}

/** The text for key in the current locale, with {name} placeholders filled; falls back to
 * zh-CN, then to the key itself (so a missing word shows, and a test can find it). */
export function t(key, vars = {}) {
  const text = catalogs[locale()][key] ?? catalogs[DEFAULT_LOCALE][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** True when some catalog knows key (pages use it to fall back to a raw code politely). */
export function has(key) {
  return key in catalogs[locale()] || key in catalogs[DEFAULT_LOCALE];
}

const ATTRS = [
  ["data-i18n-title", "title"],
  ["data-i18n-placeholder", "placeholder"],
  ["data-i18n-aria", "aria-label"],
];

/** Translates the marked elements under root and sets <html lang>. */
export function applyI18n(root = document) {
  document.documentElement.lang = locale();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const [data, attr] of ATTRS) {
    for (const el of root.querySelectorAll(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data)));
  }
}

/** An API error body's stable code as words: errors.<code>, else the server's message. */
export function errorText(body, status) {
  const code = body?.error;
  if (code && has(`errors.${code}`)) return t(`errors.${code}`, { field: body?.field ?? "" });
  return body?.message ?? `HTTP ${status}`;
}

/** Numbers and dates for people: the locale's digits; times in the city's zone, labelled. */
export function formatNumber(value, options = {}) {
  return value == null ? "—" : new Intl.NumberFormat(locale(), options).format(value);
}

export function formatDateTime(value, timeZone, options = {}) {
  if (value == null) return "—";
  const date = value instanceof Date ? value : new Date(value);
  return new Intl.DateTimeFormat(locale(), {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    ...options,
  }).format(date);
}

/** Only the time of day (HH:MM:SS) in the given zone. */
export function formatTime(value, timeZone) {
  return formatDateTime(value, timeZone, { year: undefined, month: undefined, day: undefined });
}

/** A domain code as words: t(`${prefix}.${code}`) when a catalog knows it, else the code with
 * its underscores as spaces (a new code still reads, and shows it is untranslated). */
export function term(prefix, code) {
  if (code == null) return "—";
  return has(`${prefix}.${code}`) ? t(`${prefix}.${code}`) : String(code).replaceAll("_", " ");
}
