// Alarms for new incidents on the live map: the incident types to be alerted to, a sound and a
// desktop notification, chosen per browser (localStorage, never the server: it is this desk's
// taste). The sound is synthesised (Web Audio), so no file has to be fetched.
import { t, term } from "./i18n.js";

const KEY = "tracker.alarms";
export const ALARM_TYPES = [
  "dumping",
  "route_deviation",
  "wrong_yard",
  "no_permit",
  "outside_hours",
  "no_go_zone",
  "speeding",
  "uncovered",
  "terminal_offline",
  "blacklisted_vehicle",
];
const SAME_TYPE = { no_go_zone_entry: "no_go_zone" }; // the geofence's name for the same thing

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    if (saved && Array.isArray(saved.types)) return { types: saved.types, sound: !!saved.sound, notify: !!saved.notify };
  } catch {
    // a damaged setting: start again from the defaults
  }
  return { types: ["dumping", "no_go_zone"], sound: false, notify: false };
}

export function alarms() {
  const settings = load();
  const $ = (id) => document.getElementById(id);
  let audio = null;
  const played = { count: 0, notified: 0 }; // read by the browser tests
  window.trackerAlarms = { settings, played };

  function save() {
    localStorage.setItem(KEY, JSON.stringify(settings));
  }

  function beep() {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.6);
  }

  async function askPermission() {
    if (!("Notification" in window)) {
      $("alarm-note").textContent = t("alarm.unsupported");
      return false;
    }
    const answer = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    $("alarm-note").textContent = answer === "granted" ? "" : t("alarm.denied");
    return answer === "granted";
  }

  function render() {
    const box = $("alarm-types");
    box.replaceChildren();
    for (const type of ALARM_TYPES) {
      const label = document.createElement("label");
      label.className = "check";
      const box2 = document.createElement("input");
      box2.type = "checkbox";
      box2.value = type;
      box2.checked = settings.types.includes(type);
      box2.addEventListener("change", () => {
        settings.types = ALARM_TYPES.filter((x) => (x === type ? box2.checked : settings.types.includes(x)));
        save();
      });
      label.append(box2, ` ${term("incident.type", type)}`);
      box.append(label);
    }
    $("alarm-sound").checked = settings.sound;
    $("alarm-notify").checked = settings.notify;
    $("alarm-sound").addEventListener("change", (ev) => {
      settings.sound = ev.target.checked;
      if (settings.sound) beep(); // the click unlocks audio, and lets the user hear it
      save();
    });
    $("alarm-notify").addEventListener("change", async (ev) => {
      settings.notify = ev.target.checked && (await askPermission());
      ev.target.checked = settings.notify;
      save();
    });
  }

  /** A new incident from the feed (not a snapshot's old ones): alert when its type is chosen. */
  function raise(incident, plate) {
    const type = SAME_TYPE[incident.type] ?? incident.type;
    if (!settings.types.includes(type)) return false;
    if (settings.sound) {
      try {
        beep();
        played.count += 1;
      } catch {
        // audio not allowed before a click on this page: the notification still goes
      }
    }
    if (settings.notify && "Notification" in window && Notification.permission === "granted") {
      new Notification(t("alarm.notice", { type: term("incident.type", incident.type), plate }), {
        body: incident.detail || "",
        tag: `${incident.type}|${incident.vehicle_id}|${incident.time}`,
      });
      played.notified += 1;
    }
    return true;
  }

  render();
  return { raise, settings };
}
