// Drawing a place's polygon (site, yard, no-go zone) by clicking its corners on the map. Like
// draw.js's corridor drawer it works in WGS-84 (lon, lat) and takes the page's display transform
// (toLatLng / fromLatLng), so a polygon drawn over a shifted basemap is stored unshifted.
import * as L from "./node_modules/leaflet/dist/leaflet-src.esm.js";

const round6 = (v) => Math.round(v * 1e6) / 1e6;

export function polygonDrawer({ map, toLatLng, fromLatLng, onChange }) {
  const layer = L.layerGroup().addTo(map);
  let points = []; // [lon, lat] corners, the ring not closed

  function redraw() {
    layer.clearLayers();
    const latlngs = points.map(([lon, lat]) => toLatLng(lon, lat));
    if (points.length >= 3) {
      L.polygon(latlngs, { color: "#e8590c", weight: 2, fillOpacity: 0.2, interactive: false, className: "fence fence-drawing-polygon" }).addTo(layer);
    } else if (points.length === 2) {
      L.polyline(latlngs, { color: "#e8590c", weight: 2, interactive: false, className: "fence fence-drawing" }).addTo(layer);
    }
    latlngs.forEach((ll, i) =>
      L.circleMarker(ll, { radius: 5, color: "#fff", weight: 2, fillColor: "#e8590c", fillOpacity: 1, interactive: false, className: `draw-point draw-point-${i}` }).addTo(layer),
    );
    onChange?.(points.length);
  }

  map.on("click", (ev) => {
    points.push(fromLatLng(ev.latlng).map(round6));
    redraw();
  });

  return {
    undo() {
      points.pop();
      redraw();
    },
    clear() {
      points = [];
      redraw();
    },
    /** Shows a stored Polygon (its outer ring) or MultiPolygon (its first polygon) for editing. */
    load(geometry) {
      const ring = geometry?.type === "MultiPolygon" ? geometry.coordinates[0]?.[0] : geometry?.coordinates?.[0];
      points = (ring ?? []).map((p) => [p[0], p[1]]);
      if (points.length > 1 && points[0][0] === points.at(-1)[0] && points[0][1] === points.at(-1)[1]) points.pop();
      redraw();
      if (points.length) map.fitBounds(L.latLngBounds(points.map(([lon, lat]) => toLatLng(lon, lat))).pad(0.3));
    },
    get count() {
      return points.length;
    },
    /** The drawn polygon as GeoJSON (closed ring), or null with fewer than 3 corners. */
    geometry() {
      if (points.length < 3) return null;
      return { type: "Polygon", coordinates: [[...points.map((p) => [...p]), [...points[0]]]] };
    },
  };
}
