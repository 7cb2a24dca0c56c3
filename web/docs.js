// The /docs page: Swagger UI from the local swagger-ui-dist (installed by scripts/web-prereqs.sh),
// no CDN and no web fonts, so it works offline and where foreign CDNs are unreachable. A file of
// its own: the pages' CSP allows no inline script.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
