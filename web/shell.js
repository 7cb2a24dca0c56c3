// The console's shared header: the platform's name and the page's title, the navigation, the
// locale switch, the signed-in user and sign-out. Every page calls mountShell() once; pages
// built elsewhere add their links to NAV before it (the "more" group). Also the city's time
// zone (GET /api/v1/config when it answers, else Asia/Shanghai) and its label for people.
import { applyI18n, has, locale, LOCALES, register, setLocale, t } from "./i18n.js";
import common from "./locales/common.js";
import { dropToken, takeToken } from "./token.js";

register(common);

export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

/** The navigation: [page key, href, catalog key]; other pages append here before mounting. */
export const NAV = [
  ["map", "index.html", "nav.map"],
  ["permits", "permits.html", "nav.permits"],
  ["yards", "yard.html", "nav.yards"],
  ["dashboard", "dashboard.html", "nav.dashboard"],
  ["permit-new", "permit-new.html", "nav.permit_new"],
  ["registry", "registry.html", "nav.registry"],
  ["replay", "replay.html", "nav.replay"],
  ["blacklist", "blacklist.html", "nav.blacklist"],
  ["clues", "clues.html", "nav.clues"],
  ["users", "users.html", "nav.users"],
  ["audit", "audit.html", "nav.audit"],
  ["outbox", "outbox.html", "nav.outbox"],
];

let zonePromise = null;

/** The city's time zone (an IANA name), asked of the server once per page. */
export function cityTimeZone() {
  zonePromise ??= fetch("/api/v1/config")
    .then((r) => (r.ok ? r.json() : null))
    .then((c) => (typeof c?.time_zone === "string" && c.time_zone ? c.time_zone : DEFAULT_TIME_ZONE))
    .catch(() => DEFAULT_TIME_ZONE)
    .then((zone) => {
      try {
        new Intl.DateTimeFormat("en", { timeZone: zone });
        return zone;
      } catch {
        return DEFAULT_TIME_ZONE; // a name this browser does not know
      }
    });
  return zonePromise;
}

/** "北京时间" / "Beijing time" for Asia/Shanghai, else the zone's offset ("UTC+8"). */
export function zoneLabel(zone) {
  if (has(`tz.${zone}`)) return t(`tz.${zone}`);
  const part = new Intl.DateTimeFormat("en", { timeZone: zone, timeZoneName: "shortOffset" })
    .formatToParts(new Date())
    .find((p) => p.type === "timeZoneName");
  return (part?.value || zone).replace("GMT", "UTC");
}

function navLinks(current) {
  const nav = document.createElement("nav");
  nav.id = "shell-nav";
  nav.setAttribute("aria-label", t("nav.label"));
  for (const [key, href, label] of NAV) {
    const a = document.createElement("a");
    a.href = href;
    a.dataset.nav = key;
    a.textContent = t(label);
    if (key === current) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  return nav;
}

function localeSwitch() {
  const button = document.createElement("button");
  button.type = "button";
  button.id = "locale-switch";
  button.className = "small";
  button.textContent = t("locale.switch");
  button.title = t("locale.switch.title");
  button.addEventListener("click", () => {
    const next = LOCALES.find((l) => l !== locale());
    setLocale(next);
    location.reload(); // every word and format redrawn from the catalogs
  });
  return button;
}

async function signOut() {
  const token = takeToken();
  if (token) {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => null);
  }
  dropToken();
  location.reload();
}

/** Fills in who is signed in, once the page has a token. */
export async function showUser() {
  const token = takeToken();
  const box = document.getElementById("shell-user");
  if (!token || !box) return;
  let me = null;
  try {
    const resp = await fetch("/api/v1/auth/me", { headers: { Authorization: `Bearer ${token}` } });
    me = resp.ok ? await resp.json() : null;
  } catch {
    me = null;
  }
  const name = me ? me.username || t(`shell.role.${me.role}`) : "";
  box.querySelector(".shell-name").textContent = name ? t("shell.signedin", { name }) : "";
  box.querySelector(".shell-name").dataset.role = me?.role ?? "";
  box.hidden = false;
}

/** Builds the header of the page: `page` is its NAV key, `title` its catalog key. Keeps the
 * page's own header items (status, counts, controls) between the navigation and the user. */
export function mountShell({ page, title }) {
  const header = document.querySelector("header") ?? document.body.prepend(document.createElement("header"));
  header.id = "shell";
  header.querySelector("h1")?.remove();
  header.querySelector("nav")?.remove();
  const brand = document.createElement("h1");
  brand.innerHTML = `<span class="brand"></span> <span class="page-title"></span>`;
  brand.querySelector(".brand").textContent = t("app.name");
  brand.querySelector(".page-title").textContent = title ? t(title) : "";
  const user = document.createElement("div");
  user.id = "shell-user";
  user.className = "shell-user";
  user.hidden = true;
  user.innerHTML = `<span class="shell-name"></span> <button type="button" class="small" id="sign-out"></button>`;
  user.querySelector("button").textContent = t("shell.signout");
  user.querySelector("button").addEventListener("click", signOut);
  const end = document.createElement("div");
  end.className = "shell-end";
  end.append(user, localeSwitch());
  header.prepend(brand, navLinks(page));
  header.append(end);
  if (title) document.title = `${t(title)} · ${t("app.name")}`;
  applyI18n();
  return header;
}
