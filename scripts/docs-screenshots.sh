#!/usr/bin/env bash
# docs-screenshots.sh — refresh the screenshots in docs/img from the newcomer
# journey in Chromium (internal/e2e TestJourney), which saves one PNG per step
# to e2e-screenshots/TestJourney/. Run `go tool task docs:screenshots`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/e2e-screenshots/TestJourney"
DST="$ROOT/docs/img"
cd "$ROOT"
if [ "${SKIP_RUN:-}" != 1 ]; then
	go test -count=1 -timeout 15m -run '^TestJourney$' ./internal/e2e
fi
mkdir -p "$DST"
# docs name ← journey step
while read -r name step; do
	[ -f "$SRC/$step" ] || { echo "missing $SRC/$step (did the journey run?)" >&2; exit 1; }
	cp "$SRC/$step" "$DST/$name"
	echo "docs/img/$name ← $step"
done <<'MAP'
dashboard.png 01-dashboard-offers-demo.png
demo-guide.png 02-guide-with-lead-password.png
build-log.png 03-build-live-log.png
environments.png 15-production-live.png
loadtest-live.png 09-loadtest-running.png
loadtest-result.png 10-loadtest-passed.png
promotion.png 11-production-waits-for-approval.png
approvals.png 12-lead-inbox.png
release.png 29-production-rolled-back.png
MAP
