#!/usr/bin/env bash
# What the browser pages and their tests need: Debian's chromium (Playwright drives it by path;
# its own browser download cannot work here), Node's npm, and the pages' libraries in
# web/node_modules (Leaflet, ECharts; Swagger UI for /docs). `make demo` and `make test` both run it.
# Idempotent and quiet: each step runs only when its result is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# plates carry Chinese characters (粤B…): a CJK font so pages and screenshots show them
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
if ((${#missing[@]})); then
  echo "web-prereqs: installing ${missing[*]} with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "${missing[@]}" >/dev/null
fi
# every file the pages load from web/node_modules: the map and chart libraries, /docs's Swagger UI
if [[ ! -f web/node_modules/leaflet/dist/leaflet-src.esm.js ||
      ! -f web/node_modules/echarts/dist/echarts.esm.min.js ||
      ! -f web/node_modules/swagger-ui-dist/swagger-ui-bundle.js ]]; then
  echo "web-prereqs: installing the pages' libraries (npm)"
  # SCARF_ANALYTICS=false: swagger-ui-dist's install-time usage report stays off
  (cd web && SCARF_ANALYTICS=false npm install --silent --no-audit --no-fund --no-package-lock \
    >/dev/null)
fi
