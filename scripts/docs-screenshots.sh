#!/usr/bin/env bash
# docs-screenshots.sh — refresh the screenshots in docs/img from the browser
# suites in Chromium: the newcomer journey (internal/e2e TestJourney), the
# QA load-test walk and the IDE flow (TestBrowserIDE), which save one PNG per
# step under e2e-screenshots/.
# Run `go tool task docs:screenshots`; SKIP_RUN=1 only copies.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/e2e-screenshots"
DST="$ROOT/docs/img"
cd "$ROOT"
if [ "${SKIP_RUN:-}" != 1 ]; then
	go test -count=1 -timeout 15m -run '^(TestJourney|TestBrowserQALoadTestsStagingAndComparesRuns|TestBrowserIDE)$' ./internal/e2e
fi
mkdir -p "$DST"
# docs name ← screenshot under e2e-screenshots/
while read -r name step; do
	[ -f "$SRC/$step" ] || { echo "missing $SRC/$step (did the browser suites run?)" >&2; exit 1; }
	cp "$SRC/$step" "$DST/$name"
	echo "docs/img/$name ← $step"
done <<'MAP'
dashboard.png TestJourney/01-dashboard-offers-demo.png
demo-guide.png TestJourney/02-guide-with-lead-password.png
build-log.png TestJourney/03-build-live-log.png
environments.png TestJourney/15-production-live.png
loadtest-live.png TestBrowserQALoadTestsStagingAndComparesRuns/04-run-live.png
loadtest-result.png TestJourney/10-loadtest-passed.png
promotion.png TestJourney/11-production-waits-for-approval.png
approvals.png TestJourney/12-lead-inbox.png
release.png TestJourney/29-production-rolled-back.png
loadtest-compare.png TestBrowserQALoadTestsStagingAndComparesRuns/07-compare.png
ide-yaml-error.png TestBrowserIDE/01-yaml-error-inline.png
ide-review.png TestBrowserIDE/02-review.png
ide-after-commit.png TestBrowserIDE/03-after-commit.png
ide-deploy-live.png TestBrowserIDE/04-deploy-live.png
MAP
