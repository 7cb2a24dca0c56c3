// The /docs page: Swagger UI from the local swagger-ui-dist (installed by scripts/web-prereqs.sh),
// no CDN and no web fonts, so it works offline and where foreign CDNs are unreachable. A file of
// its own: the pages' CSP allows no inline script.
//
// Every operation is rendered at once. Since 5.33 Swagger UI virtualizes the operations list
// once tags + operations reach 150 rows (ours: 20 tags, 137 operations): only the rows near the
// viewport are in the page, so the browser's find (Ctrl+F) misses the rest and the page looks
// as if it held only its first tags (swagger-ui issue 11056). FullOperations is Swagger UI's own
// rendering below that threshold, kept for any size; it uses Swagger UI internals, so
// web/package.json pins swagger-ui-dist to a minor version (tests/web/test_docs_page.py checks
// that every operation of the spec is rendered).
/* global SwaggerUIBundle */

function FullOperationsPlugin(system) {
  const h = system.React.createElement;
  function FullOperations(props) {
    const { specSelectors, getComponent, oas3Selectors, layoutSelectors, layoutActions } = props;
    const tagged = specSelectors.taggedOperations();
    const methods = specSelectors.validOperationMethods();
    if (tagged.size === 0) return h("h3", null, " No operations defined in spec!");
    const OperationContainer = getComponent("OperationContainer", true);
    const OperationTag = getComponent("OperationTag");
    return h(
      "div",
      null,
      tagged
        .map((tagObj, tag) =>
          h(
            OperationTag,
            {
              key: "operation-" + tag,
              tagObj,
              tag,
              oas3Selectors,
              layoutSelectors,
              layoutActions,
              getConfigs: props.getConfigs,
              getComponent,
              specUrl: specSelectors.url(),
            },
            h(
              "div",
              { className: "operation-tag-content" },
              tagObj
                .get("operations")
                .map((op) => {
                  const path = op.get("path");
                  const method = op.get("method");
                  if (methods.indexOf(method) === -1) return null;
                  return h(OperationContainer, {
                    key: `${path}-${method}`,
                    specPath: op.get("specPath"),
                    op,
                    path,
                    method,
                    tag,
                  });
                })
                .toArray(),
            ),
          ),
        )
        .valueSeq()
        .toArray(),
    );
  }
  return { components: { operations: FullOperations } };
}

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [FullOperationsPlugin],
  layout: "BaseLayout",
});
