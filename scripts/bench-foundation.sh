#!/usr/bin/env bash
# bench-foundation.sh — measure the portal foundation on loopback:
#   binary size; startup time from exec to the first /healthz 200 (median of
#   5 runs, fresh data directory each); idle RSS after startup; and, with
#   Vegeta at a fixed rate for a fixed duration, throughput and p99 latency of
#   GET /healthz, GET /login (the sign-in form) and POST /login (wrong
#   credentials, which the login rate limiter answers with 429 after a burst).
#
# Everything runs on 127.0.0.1 and is bounded in time. Nothing is fetched:
# the builds run with GOPROXY=off, so a module missing from the cache fails
# the build instead of downloading it.
#
# Usage: scripts/bench-foundation.sh
#   RATE=500      requests per second of each attack
#   DURATION=10s  length of each attack
#   RUNS=5        startup measurements
set -euo pipefail

RATE=${RATE:-500}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-5}
STARTUP_LIMIT_MS=30000

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	[[ -n ${KEEP_TMP:-} ]] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Start a portal on a port the kernel picks; sets PORTAL_PID and PORTAL_URL
# and the global STARTUP_MS (exec to first /healthz 200).
start_portal() {
	local dir=$1 log=$1.log t0 url=""
	mkdir -p "$dir"
	t0=$(now_ms)
	SLIPWAY_ADMIN_PASSWORD=bench-admin-password SLIPWAY_DATA="$dir" \
		"$TMP/slipway" serve --addr 127.0.0.1:0 >"$log.out" 2>"$log" &
	PORTAL_PID=$!
	PIDS+=("$PORTAL_PID")
	while :; do
		if ! kill -0 "$PORTAL_PID" 2>/dev/null; then
			cat "$log" >&2
			die "slipway serve exited during startup"
		fi
		if (( $(now_ms) - t0 > STARTUP_LIMIT_MS )); then
			cat "$log" >&2
			die "no /healthz 200 within ${STARTUP_LIMIT_MS} ms"
		fi
		if [[ -z $url ]]; then
			url=$(sed -n 's/.*msg="slipway is running" url=\(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$log" | head -n1)
		fi
		if [[ -n $url ]] && [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/healthz") == 200 ]]; then
			break
		fi
		sleep 0.01
	done
	STARTUP_MS=$(( $(now_ms) - t0 ))
	PORTAL_URL=$url
	# What the portal says it took from its first line of main to serving.
	SELF_STARTUP=$(sed -n 's/.*msg="slipway is running".* startup=\([^ ]*\).*/\1/p' "$log" | head -n1)
}

stop_portal() {
	local pid=$1 rc=0 p rest=()
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	for p in "${PIDS[@]}"; do
		[[ $p == "$pid" ]] || rest+=("$p")
	done
	PIDS=("${rest[@]}")
	(( rc == 0 )) || die "slipway serve exited with status $rc after SIGTERM"
}

# attack NAME TARGETS_FILE TIMEOUT — prints a line and leaves $TMP/NAME.json.
attack() {
	local name=$1 targets=$2 timeout=$3
	"$TMP/vegeta" attack -targets="$targets" -rate="$RATE" -duration="$DURATION" \
		-timeout="$timeout" -max-workers=256 -redirects=-1 -laddr=127.0.0.1 -name="$name" \
		>"$TMP/$name.bin"
	"$TMP/vegeta" report -type=json "$TMP/$name.bin" >"$TMP/$name.json"
	jq -r --arg name "$name" '
		"\($name | . + "               " | .[0:16]) requests \(.requests)  sent \(.rate * 10 | round / 10)/s  throughput \(.throughput * 10 | round / 10)/s  " +
		"p50 \(.latencies["50th"] / 1e6 * 100 | round / 100) ms  p99 \(.latencies["99th"] / 1e6 * 100 | round / 100) ms  " +
		"success \(.success * 1000 | round / 10)%  status \(.status_codes | to_entries | map("\(.key):\(.value)") | join(" "))"
	' "$TMP/$name.json"
}

cd "$ROOT"
echo "== build"
GOPROXY=off go build -o "$TMP/slipway" ./cmd/slipway
GOPROXY=off go build -o "$TMP/vegeta" github.com/tsenart/vegeta/v12
size=$(stat -c %s "$TMP/slipway")
printf 'binary size      %d bytes (%.1f MiB)\n' "$size" "$(echo "$size / 1048576" | bc -l)"
echo "go               $(go env GOVERSION), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== startup: exec to first /healthz 200, fresh data directory, $RUNS runs"
times=()
selfs=()
for i in $(seq 1 "$RUNS"); do
	start_portal "$TMP/start-$i"
	times+=("$STARTUP_MS")
	selfs+=("$SELF_STARTUP")
	stop_portal "$PORTAL_PID"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
echo "startup          median ${median} ms  (runs: ${times[*]} ms)"
echo "                 the portal's own startup= log field: ${selfs[*]}"

echo "== idle memory"
start_portal "$TMP/main"
sleep 2
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PORTAL_PID/status")
echo "idle RSS         ${rss} kB ($(( rss / 1024 )) MiB) 2 s after startup"

echo "== load: $RATE req/s for $DURATION each, keep-alive, loopback"
printf 'GET %s/healthz\n' "$PORTAL_URL" >"$TMP/healthz.targets"
printf 'GET %s/login\n' "$PORTAL_URL" >"$TMP/login-form.targets"
# POST /login needs the CSRF cookie and the matching form field.
curl -s -c "$TMP/jar" -o "$TMP/login.html" "$PORTAL_URL/login"
csrf=$(sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' "$TMP/login.html" | head -n1)
[[ -n $csrf ]] || die "no _csrf field on /login"
printf 'username=nobody-bench&password=wrong-password-123&_csrf=%s' "$csrf" >"$TMP/login.body"
{
	printf 'POST %s/login\n' "$PORTAL_URL"
	printf 'Content-Type: application/x-www-form-urlencoded\n'
	printf 'Cookie: slipway_csrf=%s\n' "$csrf"
	printf '@%s\n' "$TMP/login.body"
} >"$TMP/login-post.targets"

attack healthz "$TMP/healthz.targets" 5s
attack login-form "$TMP/login-form.targets" 5s
# The requests the limiter lets through each cost a bcrypt comparison (cost
# 12), all at once; give them time so they show as latency, not as errors.
attack login-post "$TMP/login-post.targets" 30s

jq -r -n --slurpfile h "$TMP/healthz.json" --slurpfile l "$TMP/login-form.json" '
	"ratio GET /login ÷ GET /healthz: throughput \($l[0].throughput / $h[0].throughput * 100 | round / 100)x, " +
	"p99 \($l[0].latencies["99th"] / $h[0].latencies["99th"] * 100 | round / 100)x"'
echo "note: POST /login is rate limited (burst 10 per client address and per username, then one per 30 s);"
echo "      after the burst it answers 429 without checking the password, so its figures measure the limiter."
echo "      The few requests let through (status 401) each run a bcrypt comparison at cost 12."
echo "      Vegeta counts only 2xx/3xx as throughput, hence 0/s there; \"sent\" is the request rate achieved."
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PORTAL_PID/status")
echo "RSS after load   ${rss} kB ($(( rss / 1024 )) MiB)"
stop_portal "$PORTAL_PID"
echo "== done"
