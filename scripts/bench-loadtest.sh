#!/usr/bin/env bash
# bench-loadtest.sh — figures for Slipway's load tests, on loopback:
#   1. fidelity against the Vegeta CLI: the same local target, the same rate
#      and duration, once through Slipway's load-test job and once with
#      `vegeta attack`; achieved throughput ratio and p50 difference;
#   2. the highest rate Slipway sustains at >= 99 % of the requested rate
#      (successful responses per second), sweeping RATES for SWEEP each;
#   3. memory (RSS of the process running the job) during a LONG run at that
#      rate.
#
# "Slipway" here is the real job path without HTTP (scripts/benchloadtest):
# SQLite store, River worker, logs service with one window a second,
# jobs.EnqueueLoadTest. The target is a separate process answering "ok".
# Nothing is fetched: builds run with GOPROXY=off.
#
# Usage: scripts/bench-loadtest.sh
#   FIDELITY_RATE=1000  FIDELITY_DURATION=10s
#   RATES="1000 2000 3000 4000 5000 6000 8000 10000"  SWEEP=10s  TRIES=2
#   LONG=60s
set -euo pipefail

FIDELITY_RATE=${FIDELITY_RATE:-1000}
FIDELITY_DURATION=${FIDELITY_DURATION:-10s}
RATES=${RATES:-"1000 2000 3000 4000 5000 6000 8000 10000"}
SWEEP=${SWEEP:-10s}
LONG=${LONG:-60s}
ADDR=${ADDR:-127.0.0.1:18795}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slipway-benchlt.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$ROOT"
echo "building (GOPROXY=off)…" >&2
GOPROXY=off go build -o "$TMP/benchloadtest" ./scripts/benchloadtest
GOPROXY=off go build -o "$TMP/vegeta" github.com/tsenart/vegeta/v12

"$TMP/benchloadtest" target "$ADDR" &
PIDS+=($!)
for _ in $(seq 50); do
	curl -fsS "http://$ADDR/" >/dev/null 2>&1 && break
	sleep 0.1
done

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "## machine"
echo "$(nproc) CPUs, $(uname -sr), $(go version | cut -d' ' -f3)"
echo

echo "## fidelity: $FIDELITY_RATE req/s for $FIDELITY_DURATION against http://$ADDR/"
slip=$("$TMP/benchloadtest" run "$ADDR" "$FIDELITY_RATE" "$FIDELITY_DURATION" 2>/dev/null)
veg=$(echo "GET http://$ADDR/" | "$TMP/vegeta" attack -rate "$FIDELITY_RATE" -duration "$FIDELITY_DURATION" -timeout 5s -max-workers 256 |
	"$TMP/vegeta" report -type json)
python3 - "$slip" "$veg" <<'PY'
import json, sys
s, v = json.loads(sys.argv[1]), json.loads(sys.argv[2])
vp50 = v["latencies"]["50th"] / 1e6
print(f"| | requests | sent req/s | throughput | success | p50 ms | p99 ms |")
print(f"|---|---|---|---|---|---|---|")
print(f"| Slipway job | {s['requests']} | {s['achieved_rate']:.1f} | {s['throughput']:.1f} | {s['success']*100:.2f} % | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} |")
print(f"| vegeta attack | {v['requests']} | {v['rate']:.1f} | {v['throughput']:.1f} | {v['success']*100:.2f} % | {vp50:.3f} | {v['latencies']['99th']/1e6:.3f} |")
print()
print(f"throughput ratio Slipway/Vegeta: {s['throughput']/v['throughput']:.3f}")
print(f"p50 difference: {s['p50_ms']-vp50:+.3f} ms ({(s['p50_ms']-vp50)/vp50*100:+.1f} %)")
PY
echo

echo "## sustained rate: sweep of $SWEEP runs"
best=0
echo "| requested req/s | throughput | ratio | success | p50 ms | p99 ms | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
# The box is shared: a rate counts as sustained if one of TRIES runs holds it.
for r in $RATES; do
	ok=no
	for _ in $(seq "${TRIES:-2}"); do
		out=$("$TMP/benchloadtest" run "$ADDR" "$r" "$SWEEP" 2>/dev/null)
		row=$(python3 - "$out" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
ratio = s["throughput"] / s["rate"]
ok = "yes" if ratio >= 0.99 and s["success"] >= 0.99 else "no"
print(f"{ok} | {s['rate']:.0f} | {s['throughput']:.1f} | {ratio:.3f} | {s['success']*100:.2f} % | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['peak_rss_mib']:.1f} |")
PY
		)
		echo "| ${row#* | }"
		if [[ ${row%% *} == yes ]]; then
			ok=yes
			break
		fi
	done
	[[ $ok == yes ]] || break
	best=$r
done
echo
echo "highest sustained rate: $best req/s"
echo
if [[ $best == 0 ]]; then
	echo "no rate was sustained; skipping the memory run" >&2
	exit 1
fi

echo "## memory: $best req/s for $LONG"
out=$("$TMP/benchloadtest" run "$ADDR" "$best" "$LONG" 2>/dev/null)
python3 - "$out" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print(f"requests {s['requests']}, throughput {s['throughput']:.1f} req/s ({s['throughput']/s['rate']*100:.2f} % of requested), success {s['success']*100:.2f} %, status {s['status']}")
print(f"RSS before the run {s['baseline_rss_mib']:.1f} MiB, median during {s['median_rss_mib']:.1f} MiB, peak {s['peak_rss_mib']:.1f} MiB")
PY
