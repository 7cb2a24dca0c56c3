// The staff token, kept out of URLs: held in sessionStorage (this tab, until it closes), entered
// once in the page's sign-in dialog or handed over in a one-time `#token=` fragment, which the
// page reads and at once removes from the address bar (fragments never reach a server or its
// logs). Requests send it as `Authorization: Bearer`; the websocket in its first message. The
// server refuses a token in a query string.

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

/** Keep a token entered in the sign-in dialog for this tab. */
export function keepToken(token) {
  sessionStorage.setItem(KEY, token);
}

/** Ask for a token with the page's sign-in dialog (`#login`, `#login-token`). */
export async function askToken() {
  const dialog = document.getElementById("login");
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  const token = document.getElementById("login-token").value.trim();
  keepToken(token);
  return token;
}
