#!/usr/bin/env bash
# bench.sh: rtgate against the floor and the guide-style Express app, in
# one command, on loopback only.
#
# It installs what it needs (wrk from Debian packages, Node.js if missing,
# the Express app's npm packages pinned by bench/express/package-lock.json
# with `npm ci`), builds rtgate and the benchmark programs (the nested
# module bench/), runs the rate limiter's scaling benchmark, then
# bench/cmd/benchrun: the same 0 ms fake upstream behind every target, wrk
# in alternating rounds, medians, ratios to the floor, p99, CPU per
# request. It writes docs/bench/results.json and the charts
# (docs/bench/*.svg), and rewrites the generated sections of README.md and
# docs/performance.md. Nothing else is changed.
#
# Usage: scripts/bench.sh
# Env (defaults in brackets; the whole run takes about 7 minutes):
#   BENCH_DURATION [8s]        one measured wrk run
#   BENCH_WARMUP [2s]          unmeasured run per target before each scenario
#   BENCH_ROUNDS [3]           alternating rounds per scenario
#   BENCH_CONNS [64]           wrk connections (wrk -t2)
#   BENCH_SWEEP [1,16,64,256]  connection counts of the latency sweep ("" to skip)
#   BENCH_SWEEP_DURATION [5s]  BENCH_SWEEP_ROUNDS [3]
#   BENCH_SCALE_COUNT [3]      runs of BenchmarkLimiterScale (0 to skip)
#   BENCH_EXPRESS [1]          0 leaves the Express app out
#   BENCH_MAX_LOAD [1.0]       warn when the load average is above this at the start
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BENCH_DURATION=${BENCH_DURATION:-8s}
BENCH_WARMUP=${BENCH_WARMUP:-2s}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_SWEEP=${BENCH_SWEEP-1,16,64,256}
BENCH_SWEEP_DURATION=${BENCH_SWEEP_DURATION:-5s}
BENCH_SWEEP_ROUNDS=${BENCH_SWEEP_ROUNDS:-3}
BENCH_SCALE_COUNT=${BENCH_SCALE_COUNT:-3}
BENCH_EXPRESS=${BENCH_EXPRESS:-1}
BENCH_MAX_LOAD=${BENCH_MAX_LOAD:-1.0}

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ "$BENCH_EXPRESS" = 1 ]; then
	command -v node >/dev/null 2>&1 || need+=(nodejs)
	command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing ${need[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

echo "bench: building rtgate and the benchmark programs"
go build -o "$work/bin/rtgate" ./cmd/rtgate
(cd bench && go build -o "$work/bin/" ./cmd/upstream ./cmd/floor ./cmd/benchrun)

express_args=(-skip-express)
if [ "$BENCH_EXPRESS" = 1 ]; then
	echo "bench: installing the Express app (npm ci, versions pinned by bench/express/package-lock.json)"
	mkdir -p "$work/express"
	cp bench/express/package.json bench/express/package-lock.json bench/express/server.js "$work/express/"
	(cd "$work/express" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
	express_args=(-express "$work/express")
fi

scale_args=()
if [ "$BENCH_SCALE_COUNT" != 0 ]; then
	echo "bench: go test -run '^\$' -bench BenchmarkLimiterScale -benchmem -count $BENCH_SCALE_COUNT ./internal/ratelimit/"
	go test -run '^$' -bench BenchmarkLimiterScale -benchmem -count "$BENCH_SCALE_COUNT" ./internal/ratelimit/ | tee "$work/scale.txt" | grep -E '^Benchmark' || true
	scale_args=(-scale "$work/scale.txt")
fi

echo "bench: $(uptime)"
"$work/bin/benchrun" -bin "$work/bin" "${express_args[@]}" "${scale_args[@]}" -repo "$root" -work "$work" \
	-duration "$BENCH_DURATION" -warmup "$BENCH_WARMUP" -rounds "$BENCH_ROUNDS" -conns "$BENCH_CONNS" \
	-sweep "$BENCH_SWEEP" -sweep-duration "$BENCH_SWEEP_DURATION" -sweep-rounds "$BENCH_SWEEP_ROUNDS" \
	-max-load "$BENCH_MAX_LOAD" -wrk "$(command -v wrk)" -node "$(command -v node || echo node)"
echo "bench: $(uptime)"
echo "bench: wrote docs/bench/results.json, docs/bench/*.svg and the generated sections of README.md and docs/performance.md"
