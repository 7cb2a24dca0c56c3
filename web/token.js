// The staff token, kept out of URLs: held in sessionStorage (this tab, until it closes), got by
// signing in with a user name and password (POST /api/v1/auth/token) in the sign-in dialog, or
// handed over in a one-time `#token=` fragment, which the page reads and at once removes from the
// address bar (fragments never reach a server or its logs). Requests send it as
// `Authorization: Bearer`; the websocket in its first message. The server refuses a token in a
// query string.
import { applyI18n, errorText, t } from "./i18n.js";

const KEY = "tracker.token";

/** The token from a `#token=` fragment (then removed from the address bar) or this tab's storage. */
export function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    sessionStorage.setItem(KEY, given);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(history.state, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  localStorage.removeItem(KEY); // where earlier versions kept it, for good
  return sessionStorage.getItem(KEY) || "";
}

/** Keep a token got by signing in for this tab. */
export function keepToken(token) {
  sessionStorage.setItem(KEY, token);
}

/** Forget this tab's token (sign-out). */
export function dropToken() {
  sessionStorage.removeItem(KEY);
}

function loginDialog() {
  let dialog = document.getElementById("login");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "login";
  dialog.className = "login";
  dialog.innerHTML = `<form id="login-form" method="dialog">
      <h2 data-i18n="app.name"></h2>
      <p class="muted" data-i18n="login.intro"></p>
      <label><span data-i18n="login.username"></span>
        <input id="login-username" name="username" autocomplete="username" maxlength="64" required /></label>
      <label><span data-i18n="login.password"></span>
        <input id="login-password" name="password" type="password" autocomplete="current-password" maxlength="256" required /></label>
      <p id="login-error" class="message message-error" role="alert" hidden></p>
      <button id="login-submit" type="submit" data-i18n="login.submit"></button>
    </form>`;
  document.body.append(dialog);
  applyI18n(dialog);
  dialog.addEventListener("cancel", (ev) => ev.preventDefault()); // no page without signing in
  return dialog;
}

async function signIn(username, password) {
  let resp;
  try {
    resp = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    throw new Error(t("errors.network"));
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(errorText(body, resp.status));
  return body;
}

/** Ask the user to sign in with the page's sign-in dialog; resolves with the new token. */
export async function askToken() {
  const dialog = loginDialog();
  const form = dialog.querySelector("form");
  const error = dialog.querySelector("#login-error");
  const button = dialog.querySelector("#login-submit");
  dialog.showModal();
  return new Promise((resolve) => {
    const submit = async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      button.disabled = true;
      button.textContent = t("login.working");
      try {
        const got = await signIn(form.username.value.trim(), form.password.value);
        keepToken(got.access_token);
        form.removeEventListener("submit", submit);
        form.password.value = "";
        dialog.close();
        resolve(got.access_token);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        button.disabled = false;
        button.textContent = t("login.submit");
      }
    };
    form.addEventListener("submit", submit);
  });
}
