#!/usr/bin/env bash
# Vendor the browser libraries: npm ci (only when package-lock.json changed), then copy what the
# server serves from its own origin into static/vendor/ (generated, not in git).
#   scripts/vendor.sh              everything, dev tools included (axe-core for the browser tests)
#   scripts/vendor.sh --omit-dev   only what production serves (the Docker image)
# axe-core stays in node_modules/: the tests read it from there, the server never serves it.
set -euo pipefail
cd "$(dirname "$0")/.."

omit=()
if [ "${1:-}" = "--omit-dev" ]; then
    omit=(--omit=dev)
fi

if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)${omit:+-prod}"
if [ ! -f "$stamp" ]; then
    npm ci --no-audit --no-fund --loglevel=error "${omit[@]}"
    touch "$stamp"   # npm ci empties node_modules/, so an old stamp never survives
fi

mkdir -p static/vendor
for file in socket.io.esm.min.js socket.io.esm.min.js.map; do
    cp -p "node_modules/socket.io-client/dist/$file" static/vendor/
done
# uPlot draws the dashboard's charts (MIT, small, maintained); served from our own origin.
cp -p node_modules/uplot/dist/uPlot.esm.js static/vendor/uplot.esm.js
cp -p node_modules/uplot/dist/uPlot.min.css static/vendor/uplot.min.css
