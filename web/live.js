// The live websocket: authenticate, subscribe, reconnect with back-off (a fresh snapshot each time).
import { t } from "./i18n.js";

export class LiveConnection {
  constructor({ token, onMessage, onStatus }) {
    this.token = token;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.subscription = null;
    this.retryMs = 500;
    this.socket = null;
    this.seq = 0;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/v1/live`;
  }

  connect() {
    this.onStatus("connecting", t("live.connecting"));
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: this.token }));
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      if (event.code === 4401) {
        this.onStatus("error", t("live.refused"));
        return;
      }
      this.onStatus("connecting", t("live.reconnecting", { s: Math.round(this.retryMs / 100) / 10 }));
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    });
  }

  receive(message) {
    if (message.type === "hello") {
      this.retryMs = 500;
      this.onStatus("live", t("live.live", { role: t(`shell.role.${message.role}`) }));
      if (this.subscription) this.send(this.subscription);
    }
    this.onMessage(message);
  }

  subscribe(filters) {
    this.seq += 1;
    this.subscription = { type: "subscribe", id: `s${this.seq}`, ...filters };
    this.send(this.subscription);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }
}
