// The map's basemap, configured on the server (GET /api/v1/config): presets for the offline
// road layer, OpenStreetMap, AMap (GCJ-02), Tianditu (WGS-84/CGCS2000) and Baidu (BD-09, its
// own tile grid), each with its attribution. The page draws WGS-84 positions converted into the
// preset's system (coords.js) and converts what is drawn on it back before it is stored.
// The choice is kept per browser; switching reloads the page (a map's CRS is fixed at creation).
// A legacy ?tiles=URL (&crs=wgs84|gcj02|bd09) still picks custom tiles.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";
import { displayTransform } from "./coords.js";
import { register, t } from "./i18n.js";
import words from "./locales/basemap.js";

register(words);
const STORE_KEY = "tracker.basemap";
const OFFLINE = { id: "offline", system: "wgs84", tiling: "web_mercator", layers: [], origins: [] };

// Baidu's tiles: BD-09 coordinates on Baidu's Mercator (close to a Mercator on the Clarke 1866
// ellipsoid), 1 m per pixel at zoom 18, tile (0, 0) at the origin with y growing north.
const baiduProjection = L.Util.extend({}, L.Projection.Mercator, {
  R: 6378206,
  R_MINOR: 6356584.314245179,
  bounds: L.bounds([-20037726.37, -12474104.17], [20037726.37, 12474104.17]),
});
export const BAIDU_CRS = L.Util.extend({}, L.CRS.Earth, {
  code: "BD09MC",
  projection: baiduProjection,
  transformation: L.transformation(1, 0, -1, 0),
  scale: (zoom) => 2 ** (zoom - 18),
  zoom: (scale) => Math.log2(scale) + 18,
});
const BaiduTiles = L.TileLayer.extend({
  getTileUrl(coords) {
    return L.Util.template(this._url, {
      s: this._getSubdomain(coords),
      x: coords.x,
      y: -coords.y - 1,
      z: this._getZoomForUrl(),
    });
  },
});

export async function fetchConfig() {
  try {
    const resp = await fetch("/api/v1/config");
    if (resp.ok) return await resp.json();
  } catch {
    // no server config: the offline road layer
  }
  return null;
}

function stored() {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

/** The basemap to draw: ?tiles= (custom), else the browser's choice, else the server default. */
export async function chooseBasemap(params = new URLSearchParams(location.search)) {
  const config = await fetchConfig();
  const presets = config?.basemaps?.presets?.length ? config.basemaps.presets : [OFFLINE];
  let preset;
  const tiles = params.get("tiles");
  if (tiles) {
    const system = params.get("crs") || "wgs84";
    const layer = { url: tiles, subdomains: "abc", max_zoom: 19, attribution: "© OpenStreetMap contributors" };
    preset = { id: "custom", system, tiling: "web_mercator", layers: [layer], origins: [] };
  } else {
    const wanted = stored() || config?.basemaps?.default;
    preset = presets.find((p) => p.id === wanted) ?? presets[0];
  }
  const transform = displayTransform(preset.system);
  return {
    config,
    preset,
    presets,
    transform,
    timeZone: config?.time_zone ?? "Asia/Shanghai",
    crs: preset.tiling === "baidu" ? BAIDU_CRS : L.CRS.EPSG3857,
    /** Adds the tiles, their attribution and the switch; `onFallback` draws the offline road
     * layer: at once without tiles, else when the first tile fails to load. */
    addTo(map, { onFallback } = {}) {
      let fellBack = false;
      const fallback = () => {
        if (fellBack) return;
        fellBack = true;
        onFallback?.();
      };
      const Tiles = preset.tiling === "baidu" ? BaiduTiles : L.TileLayer;
      const layers = preset.layers.map((l) => {
        const layer = new Tiles(l.url, {
          subdomains: l.subdomains || "abc",
          maxZoom: l.max_zoom ?? 18,
          // below the server's first level (Tianditu's is 1) Leaflet scales that level's tiles
          minNativeZoom: l.min_zoom ?? 0,
          attribution: l.attribution || "",
          className: `basemap-tiles basemap-${preset.id}`,
        });
        layer.on("tileerror", fallback);
        return layer.addTo(map);
      });
      if (!layers.length) fallback();
      switcher(presets, preset.id).addTo(map);
      return layers;
    },
  };
}

/** Chooses a basemap for this browser and reloads the page in its coordinate system. */
export function switchBasemap(id) {
  localStorage.setItem(STORE_KEY, id);
  location.reload();
}

function switcher(presets, current) {
  const control = L.control({ position: "topright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("label", "basemap-switch leaflet-bar");
    const caption = document.createElement("span");
    caption.textContent = t("basemap.label");
    const select = document.createElement("select");
    select.id = "basemap-select";
    select.setAttribute("aria-label", t("basemap.label"));
    for (const p of presets) select.add(new Option(t(`basemap.${p.id}`), p.id, false, p.id === current));
    if (!presets.some((p) => p.id === current)) select.add(new Option(t(`basemap.${current}`), current, true, true));
    select.addEventListener("change", () => switchBasemap(select.value));
    box.append(caption, select);
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  return control;
}
