// Display coordinates: kept for the pages that import it; the conversions live in coords.js.
export { displayTransform, gcj02ToWgs84, wgs84ToGcj02 } from "./coords.js";
