// Coordinate systems of Chinese web maps, the same formulas as tracker/coords.py (a browser test
// compares the two on the same points): WGS-84 (GPS; Tianditu's CGCS2000 within a metre), GCJ-02
// (AMap, Tencent) and BD-09 (Baidu). Positions are stored in WGS-84; a basemap in GCJ-02 or BD-09
// gets everything shifted before it is drawn, and what is drawn on it is shifted back.

const A = 6378245.0; // Krasovsky 1940 semi-major axis, metres
const EE = 0.00669342162296594323; // its first eccentricity squared
const X_PI = (Math.PI * 3000.0) / 180.0;
const TOLERANCE_DEG = 1e-10;
const MAX_STEPS = 30;

export const SYSTEMS = ["wgs84", "gcj02", "bd09"];

/** Outside the box in which the maps apply the GCJ-02 offset. */
export function outsideChina(lon, lat) {
  return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function dLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function dLon(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

/** WGS-84 → GCJ-02 (unchanged outside China). */
export function wgs84ToGcj02(lon, lat) {
  if (outsideChina(lon, lat)) return [lon, lat];
  const radLat = (lat / 180.0) * Math.PI;
  const magic = 1.0 - EE * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  const shiftLat = (dLat(lon - 105.0, lat - 35.0) * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  const shiftLon = (dLon(lon - 105.0, lat - 35.0) * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [lon + shiftLon, lat + shiftLat];
}

/** GCJ-02 → BD-09 (Baidu's closed form). */
export function gcj02ToBd09(lon, lat) {
  const z = Math.sqrt(lon * lon + lat * lat) + 0.00002 * Math.sin(lat * X_PI);
  const theta = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * X_PI);
  return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
}

/** The point whose `forward` image is (lon, lat): fixed-point steps on the offset. */
function invert(forward, lon, lat) {
  let [x, y] = [lon, lat];
  for (let i = 0; i < MAX_STEPS; i += 1) {
    const [fx, fy] = forward(x, y);
    const dx = fx - lon;
    const dy = fy - lat;
    if (Math.abs(dx) < TOLERANCE_DEG && Math.abs(dy) < TOLERANCE_DEG) break;
    x -= dx;
    y -= dy;
  }
  return [x, y];
}

export function gcj02ToWgs84(lon, lat) {
  return outsideChina(lon, lat) ? [lon, lat] : invert(wgs84ToGcj02, lon, lat);
}

export function bd09ToGcj02(lon, lat) {
  return invert(gcj02ToBd09, lon, lat);
}

export function wgs84ToBd09(lon, lat) {
  return gcj02ToBd09(...wgs84ToGcj02(lon, lat));
}

export function bd09ToWgs84(lon, lat) {
  return gcj02ToWgs84(...bd09ToGcj02(lon, lat));
}

const same = (lon, lat) => [lon, lat];
const FROM_WGS84 = { wgs84: same, gcj02: wgs84ToGcj02, bd09: wgs84ToBd09 };
const TO_WGS84 = { wgs84: same, gcj02: gcj02ToWgs84, bd09: bd09ToWgs84 };

/** (lon, lat) in `source` to `target` (through WGS-84 when neither is). */
export function convert(lon, lat, source, target) {
  if (source === target) return [lon, lat];
  if (source === "gcj02" && target === "bd09") return gcj02ToBd09(lon, lat);
  if (source === "bd09" && target === "gcj02") return bd09ToGcj02(lon, lat);
  return FROM_WGS84[target](...TO_WGS84[source](lon, lat));
}

/** The display transform of a basemap's system: `show` WGS-84 → map, `unshow` map → WGS-84. */
export function displayTransform(system) {
  const key = SYSTEMS.includes(system) ? system : "wgs84";
  return { system: key, show: FROM_WGS84[key], unshow: TO_WGS84[key] };
}
