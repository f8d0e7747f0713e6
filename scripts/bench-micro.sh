#!/usr/bin/env bash
# bench-micro.sh: the Go micro-benchmarks of the hot path, before and after.
#
# It exports BASE (default: the first commit before the performance work,
# aba5bd6) with `git archive`, copies today's benchmark files for
# internal/ratelimit, internal/httpx and internal/clientip into it (they use
# only those packages' exported API, which did not change), builds the
# test binaries of both trees and runs every benchmark COUNT times, base
# and head alternating. bench/cmd/benchrun then writes the medians to
# docs/bench/micro.json and the table in docs/performance.md.
#
# Usage: scripts/bench-micro.sh [BASE]
# Env:   MICRO_COUNT [5]  MICRO_BENCHTIME [1s]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${1:-aba5bd6}
count=${MICRO_COUNT:-5}
benchtime=${MICRO_BENCHTIME:-1s}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/base" "$work/bin"
git archive "$base" | tar -x -C "$work/base"
for f in internal/ratelimit/bench_test.go internal/httpx/bench_test.go internal/clientip/bench_test.go; do
	cp "$f" "$work/base/$f"
done
pkgs=(ratelimit httpx clientip gateway)
declare -A bench=(
	[ratelimit]='^(BenchmarkLimiterAllowIP|BenchmarkLimiterAllowIPWithMetrics|BenchmarkMemoryAllow|BenchmarkSetHeaders)$'
	[httpx]='^(BenchmarkMiddlewareChain|BenchmarkRefusal429|BenchmarkWriteError|BenchmarkNewRequestID)$'
	[clientip]='^BenchmarkClientIP$'
	[gateway]='^BenchmarkMintPipeline$'
)
for p in "${pkgs[@]}"; do
	(cd "$work/base" && go test -c -o "$work/bin/base-$p.test" "./internal/$p")
	go test -c -o "$work/bin/head-$p.test" "./internal/$p"
done
(cd bench && go build -o "$work/bin/benchrun" ./cmd/benchrun)

echo "bench-micro: $(uptime)"
for i in $(seq 1 "$count"); do
	for p in "${pkgs[@]}"; do
		for side in base head; do
			(cd "internal/$p" && "$work/bin/$side-$p.test" -test.run '^$' -test.bench "${bench[$p]}" -test.benchmem -test.benchtime "$benchtime") |
				grep -E '^Benchmark' | tee -a "$work/$side.txt" | sed "s/^/$side  /"
		done
	done
done
echo "bench-micro: $(uptime)"
"$work/bin/benchrun" -repo "$root" -micro-base "$work/base.txt" -micro-head "$work/head.txt" \
	-micro-revs "$base,$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal || echo '+changes')" \
	-micro-cmd "scripts/bench-micro.sh $base (MICRO_COUNT=$count MICRO_BENCHTIME=$benchtime)"
echo "bench-micro: wrote docs/bench/micro.json and the table in docs/performance.md"
