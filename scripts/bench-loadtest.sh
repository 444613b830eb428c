#!/usr/bin/env bash
# bench-loadtest.sh — figures for Slipway's load tests, on loopback:
#   1. fidelity against the Vegeta CLI: the same local target, the same rate
#      and duration, through Slipway's load-test job and with `vegeta
#      attack`, after a short warm-up of both, ROUNDS rounds alternating which
#      runs first (AB, BA, …); medians of throughput and p50, their range, the
#      throughput ratio and p50 difference of the medians and of each round;
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
#   FIDELITY_RATE=1000  FIDELITY_DURATION=10s  ROUNDS=3  WARMUP=2s
#   RATES="1000 2000 3000 4000 5000 6000 8000 10000"  SWEEP=10s  TRIES=2
#   LONG=60s
#   ONLY=fidelity   (run the fidelity section alone)
set -euo pipefail

FIDELITY_RATE=${FIDELITY_RATE:-1000}
FIDELITY_DURATION=${FIDELITY_DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
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

echo "## fidelity: $FIDELITY_RATE req/s for $FIDELITY_DURATION against http://$ADDR/, $ROUNDS rounds"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# One run of each in a fixed order swings by tens of percent on a shared
# box (warm-up, order, neighbours). So: a short warm-up of both, then
# ROUNDS rounds alternating which goes first (AB, BA, AB, …), and medians.
slip_run() { "$TMP/benchloadtest" run "$ADDR" "$1" "$2" 2>/dev/null; }
veg_run() {
	echo "GET http://$ADDR/" | "$TMP/vegeta" attack -rate "$1" -duration "$2" -timeout 5s -max-workers 256 |
		"$TMP/vegeta" report -type json
}
slip_run "$FIDELITY_RATE" "$WARMUP" >/dev/null
veg_run "$FIDELITY_RATE" "$WARMUP" >/dev/null
: >"$TMP/fidelity.jsonl"
for round in $(seq "$ROUNDS"); do
	if ((round % 2)); then order="slipway vegeta"; else order="vegeta slipway"; fi
	for tool in $order; do
		sleep 1
		if [[ $tool == slipway ]]; then
			out=$(slip_run "$FIDELITY_RATE" "$FIDELITY_DURATION")
		else
			out=$(veg_run "$FIDELITY_RATE" "$FIDELITY_DURATION")
		fi
		python3 -c 'import json,sys; d=json.loads(sys.argv[3]); d["_tool"]=sys.argv[1]; d["_round"]=int(sys.argv[2]); print(json.dumps(d))' \
			"$tool" "$round" "$out" >>"$TMP/fidelity.jsonl"
	done
done
python3 - "$TMP/fidelity.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def norm(d):
    if d["_tool"] == "slipway":
        return dict(tool="Slipway job", round=d["_round"], requests=d["requests"], rate=d["achieved_rate"],
                    thr=d["throughput"], success=d["success"], p50=d["p50_ms"], p99=d["p99_ms"])
    return dict(tool="vegeta attack", round=d["_round"], requests=d["requests"], rate=d["rate"], thr=d["throughput"],
                success=d["success"], p50=d["latencies"]["50th"] / 1e6, p99=d["latencies"]["99th"] / 1e6)
runs = [norm(d) for d in rows]
print("| round | tool | requests | sent req/s | throughput | success | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|---|")
for r in runs:
    print(f"| {r['round']} | {r['tool']} | {r['requests']} | {r['rate']:.1f} | {r['thr']:.1f} | {r['success']*100:.2f} % | {r['p50']:.3f} | {r['p99']:.3f} |")
print()
med = {}
for tool in ("Slipway job", "vegeta attack"):
    rs = [r for r in runs if r["tool"] == tool]
    thr, p50 = [r["thr"] for r in rs], [r["p50"] for r in rs]
    med[tool] = (statistics.median(thr), statistics.median(p50))
    print(f"{tool}: median throughput {med[tool][0]:.1f} req/s (range {min(thr):.1f}–{max(thr):.1f}), "
          f"median p50 {med[tool][1]:.3f} ms (range {min(p50):.3f}–{max(p50):.3f})")
s, v = med["Slipway job"], med["vegeta attack"]
print()
print(f"throughput ratio Slipway/Vegeta (medians): {s[0]/v[0]:.3f}")
print(f"p50 difference (medians): {s[1]-v[1]:+.3f} ms ({(s[1]-v[1])/v[1]*100:+.1f} %)")
# The spread of the per-round differences says how much one pair alone
# could be trusted.
by_round = {}
for r in runs:
    by_round.setdefault(r["round"], {})[r["tool"]] = r
diffs = [(b["Slipway job"]["p50"] - b["vegeta attack"]["p50"]) / b["vegeta attack"]["p50"] * 100 for b in by_round.values() if len(b) == 2]
ratios = [b["Slipway job"]["thr"] / b["vegeta attack"]["thr"] for b in by_round.values() if len(b) == 2]
print(f"per-round p50 difference: {', '.join(f'{d:+.1f} %' for d in diffs)}; per-round throughput ratio: {', '.join(f'{x:.3f}' for x in ratios)}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [[ ${ONLY:-} == fidelity ]]; then
	exit 0
fi

echo "## sustained rate: sweep of $SWEEP runs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
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
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$("$TMP/benchloadtest" run "$ADDR" "$best" "$LONG" 2>/dev/null)
python3 - "$out" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print(f"requests {s['requests']}, throughput {s['throughput']:.1f} req/s ({s['throughput']/s['rate']*100:.2f} % of requested), success {s['success']*100:.2f} %, status {s['status']}")
print(f"RSS before the run {s['baseline_rss_mib']:.1f} MiB, median during {s['median_rss_mib']:.1f} MiB, peak {s['peak_rss_mib']:.1f} MiB")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
