// Small SVG charts drawn by hand (no chart library): stacked columns over time and a line with
// a dashed forecast and a horizontal limit.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

function frame(container, width, height) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img" });
  container.replaceChildren(svg);
  return svg;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

function shortTime(iso, withDay) {
  const d = new Date(iso);
  const hm = d.toISOString().slice(11, 16);
  return withDay ? `${d.toISOString().slice(5, 10)} ${hm}` : hm;
}

/** Columns over time: each point {at, parts: [{value, className}], marks?}; y axis from 0. */
export function columnChart(container, points, { height = 220, label = "" } = {}) {
  const width = 900;
  const pad = { l: 56, r: 12, t: 12, b: 28 };
  const svg = frame(container, width, height);
  const total = (p) => p.parts.reduce((s, x) => s + x.value, 0);
  const max = niceMax(Math.max(0, ...points.map(total)));
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const y = (v) => pad.t + plotH - (v / max) * plotH;
  for (const f of [0, 0.5, 1]) {
    svg.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(max * f), y2: y(max * f), class: "grid" }));
    svg.append(el("text", { x: pad.l - 6, y: y(max * f) + 4, class: "axis", "text-anchor": "end" }, (max * f).toLocaleString("en-US")));
  }
  if (label) svg.append(el("text", { x: pad.l, y: pad.t - 2, class: "axis" }, label));
  const slot = plotW / Math.max(points.length, 1);
  const barW = Math.max(1, slot * 0.8);
  const spanDays = points.length > 1 ? (Date.parse(points.at(-1).at) - Date.parse(points[0].at)) / 864e5 : 0;
  const every = Math.max(1, Math.ceil(points.length / 12));
  points.forEach((p, i) => {
    const x = pad.l + i * slot + (slot - barW) / 2;
    let base = 0;
    const group = el("g", { class: "column", "data-at": p.at });
    for (const part of p.parts) {
      if (part.value <= 0) continue;
      group.append(el("rect", { x, y: y(base + part.value), width: barW, height: y(base) - y(base + part.value), class: part.className }));
      base += part.value;
    }
    group.append(el("title", {}, `${shortTime(p.at, true)}: ${p.parts.map((x) => `${x.value} ${x.name}`).join(", ")}`));
    if (p.marks) {
      group.append(el("circle", { cx: x + barW / 2, cy: pad.t + plotH + 6, r: Math.min(4, 2 + p.marks), class: "gap-mark" }));
    }
    svg.append(group);
    if (i % every === 0) {
      svg.append(el("text", { x: x + barW / 2, y: height - 6, class: "axis", "text-anchor": "middle" }, shortTime(p.at, spanDays >= 2)));
    }
  });
  return svg;
}

/** A line over time ({at, value}), an optional dashed forecast line, and a horizontal limit. */
export function lineChart(container, points, { forecast = [], limit = null, limitLabel = "", unit = "", height = 260 } = {}) {
  const width = 900;
  const pad = { l: 64, r: 16, t: 16, b: 28 };
  const svg = frame(container, width, height);
  const all = [...points, ...forecast];
  if (!all.length) return svg;
  const t0 = Date.parse(all[0].at);
  const t1 = Math.max(t0 + 3600e3, ...all.map((p) => Date.parse(p.at)));
  const max = niceMax(Math.max(limit ?? 0, ...all.map((p) => p.value)) * 1.05);
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const x = (at) => pad.l + ((Date.parse(at) - t0) / (t1 - t0)) * plotW;
  const y = (v) => pad.t + plotH - (v / max) * plotH;
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(max * f), y2: y(max * f), class: "grid" }));
    svg.append(el("text", { x: pad.l - 6, y: y(max * f) + 4, class: "axis", "text-anchor": "end" }, `${Math.round(max * f).toLocaleString("en-US")}${unit}`));
  }
  const days = (t1 - t0) / 864e5;
  for (let i = 0; i <= 6; i += 1) {
    const at = new Date(t0 + ((t1 - t0) * i) / 6).toISOString();
    svg.append(el("text", { x: x(at), y: height - 6, class: "axis", "text-anchor": "middle" }, days >= 2 ? at.slice(5, 10) : at.slice(11, 16)));
  }
  if (limit != null) {
    svg.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(limit), y2: y(limit), class: "limit" }));
    svg.append(el("text", { x: width - pad.r, y: y(limit) - 4, class: "axis limit-label", "text-anchor": "end" }, limitLabel));
  }
  const path = (pts) => pts.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  if (points.length) {
    const area = `${path(points)} L${x(points.at(-1).at).toFixed(1)},${y(0)} L${x(points[0].at).toFixed(1)},${y(0)} Z`;
    svg.append(el("path", { d: area, class: "fill-area" }));
    svg.append(el("path", { d: path(points), class: "fill-line" }));
    for (const p of points) {
      const dot = el("circle", { cx: x(p.at), cy: y(p.value), r: 3, class: "fill-point" });
      dot.append(el("title", {}, `${p.at.slice(0, 16).replace("T", " ")}: ${Math.round(p.value).toLocaleString("en-US")}${unit}`));
      svg.append(dot);
    }
  }
  if (forecast.length > 1) svg.append(el("path", { d: path(forecast), class: "forecast-line" }));
  return svg;
}
