// Charts drawn by Apache ECharts (SVG renderer, so the labels are text a test can read): stacked
// columns over time, and a line with a dashed forecast and a horizontal limit. Times on the axes
// are the city's wall clock (`timeZone`), numbers in the page's locale; `containLabel` keeps the
// axis labels inside the chart (no clipped "250,000").
import * as echarts from "./node_modules/echarts/dist/echarts.esm.min.js";
import { formatDateTime, formatNumber, locale } from "./i18n.js";

const charts = new Map(); // container -> its ECharts instance
window.trackerCharts = charts; // read by the browser tests
const INK = "#1d232b";
const MUTED = "#6b7480";
const LINE = "#d9dde3";

function instance(container, height) {
  container.style.height = `${height}px`;
  let chart = charts.get(container);
  if (!chart) {
    chart = echarts.init(container, null, { renderer: "svg", locale: locale() === "zh-CN" ? "ZH" : "EN" });
    charts.set(container, chart);
    new ResizeObserver(() => chart.resize()).observe(container);
  }
  return chart;
}

const hm = (at, timeZone) => formatDateTime(at, timeZone, { year: undefined, month: undefined, day: undefined, second: undefined });
const mdhm = (at, timeZone) => formatDateTime(at, timeZone, { year: undefined, second: undefined });
const md = (at, timeZone) => formatDateTime(at, timeZone, { year: undefined, hour: undefined, minute: undefined, second: undefined });

/** A round top for the value axis (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten). */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

const axisText = { color: MUTED, fontSize: 11 };
const base = {
  animation: false,
  textStyle: { fontFamily: "system-ui, sans-serif", color: INK },
  tooltip: { trigger: "axis", renderMode: "richText", confine: true }, // no inline HTML (CSP)
};

/** Columns over time: each point {at, parts: [{value, name, color}], marks?}; y axis from 0;
 * points with marks get a gap marker under their column. */
export function columnChart(container, points, { height = 240, timeZone = "Asia/Shanghai", marksName = "" } = {}) {
  const chart = instance(container, height);
  const spanDays = points.length > 1 ? (Date.parse(points.at(-1).at) - Date.parse(points[0].at)) / 864e5 : 0;
  const label = (at) => (spanDays >= 2 ? mdhm(at, timeZone) : hm(at, timeZone));
  const names = points[0]?.parts.map((p) => p.name) ?? [];
  const series = names.map((name, i) => ({
    name,
    type: "bar",
    stack: "total",
    barCategoryGap: "20%",
    itemStyle: { color: points[0].parts[i].color },
    data: points.map((p) => p.parts[i].value),
  }));
  series.push({
    name: marksName,
    type: "scatter",
    symbolSize: 8,
    itemStyle: { color: "#f59f00" },
    data: points.map((p, i) => (p.marks ? [i, 0, p.marks] : null)).filter(Boolean),
  });
  chart.setOption(
    {
      ...base,
      grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      legend: { show: false },
      xAxis: { type: "category", data: points.map((p) => label(p.at)), axisLabel: axisText, axisLine: { lineStyle: { color: LINE } } },
      yAxis: { type: "value", min: 0, axisLabel: { ...axisText, formatter: (v) => formatNumber(v) }, splitLine: { lineStyle: { color: LINE } } },
      series,
    },
    true,
  );
  container.dataset.columns = String(points.length);
  container.dataset.marks = String(points.filter((p) => p.marks).length);
  return chart;
}

/** A line over time ({at, value}), an optional dashed forecast line, and a horizontal limit. */
export function lineChart(container, points, { forecast = [], limit = null, limitLabel = "", unit = "", height = 280, timeZone = "Asia/Shanghai", names = {} } = {}) {
  const chart = instance(container, height);
  const all = [...points, ...forecast];
  const t0 = all.length ? Date.parse(all[0].at) : Date.now();
  const t1 = Math.max(t0 + 3600e3, ...all.map((p) => Date.parse(p.at)));
  const days = (t1 - t0) / 864e5;
  const xy = (p) => [Date.parse(p.at), p.value];
  const series = [
    {
      name: names.fill ?? "",
      type: "line",
      data: points.map(xy),
      symbol: "circle",
      symbolSize: 5,
      lineStyle: { width: 2.5, color: "#7048e8" },
      itemStyle: { color: "#7048e8" },
      areaStyle: { color: "rgba(112, 72, 232, 0.12)" },
      markLine:
        limit == null
          ? undefined
          : {
              symbol: "none",
              silent: true,
              lineStyle: { color: "#c92a2a", type: "dashed", width: 1.5 },
              label: { formatter: limitLabel, position: "insideEndTop", color: "#c92a2a" },
              data: [{ yAxis: limit }],
            },
    },
  ];
  if (forecast.length > 1) {
    series.push({ name: names.forecast ?? "", type: "line", data: forecast.map(xy), symbol: "none", lineStyle: { width: 2, type: "dashed", color: "#7048e8" } });
  }
  chart.setOption(
    {
      ...base,
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      xAxis: {
        type: "time",
        min: t0,
        max: t1,
        axisLabel: { ...axisText, hideOverlap: true, formatter: (v) => (days >= 2 ? md(v, timeZone) : hm(v, timeZone)) },
        axisLine: { lineStyle: { color: LINE } },
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        min: 0,
        max: niceMax(Math.max(limit ?? 0, ...all.map((p) => p.value)) * 1.05),
        axisLabel: { ...axisText, formatter: (v) => `${formatNumber(Math.round(v))}${unit}` },
        splitLine: { lineStyle: { color: LINE } },
      },
      series,
    },
    true,
  );
  container.dataset.points = String(points.length);
  container.dataset.forecast = String(forecast.length > 1);
  container.dataset.limit = limit == null ? "" : String(limit);
  return chart;
}
