#!/usr/bin/env bash
# Proves generated code is fresh: regenerates templ output and the static
# bundles, and fails if that changed any file (the regenerated files are
# left in place, ready to commit).
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot() {
  { find views -name '*_templ.go' -type f; find static/dist -type f; } 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum
}

before=$(snapshot)
go tool templ generate -path views -log-level error
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
after=$(snapshot)

if [ "$before" != "$after" ]; then
  echo "generated files were stale; regenerated (commit them):" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  exit 1
fi
echo "generated files are fresh"
