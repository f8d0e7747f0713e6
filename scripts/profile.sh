#!/usr/bin/env bash
# profile.sh: CPU and allocation profiles of rtgate under wrk load, for
# a mint (GET, through the whole pipeline to a 0 ms fake upstream) and for
# a 429 under a flood; loopback only. The binary is the real rtgate plus a
# pprof listener added at build time with `go build -overlay`
# (bench/profile/pprof_overlay.go.txt): no source file changes.
#
# Usage: scripts/profile.sh [OUTDIR]      (default: a new temporary directory)
# Env:   PROFILE_SECONDS [10]  PROFILE_CONNS [64]
# Prints the top entries and the allocations per request; the profiles and
# the binary stay in OUTDIR for `go tool pprof OUTDIR/rtgate OUTDIR/cpu-mint.pprof`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$(mktemp -d)}
mkdir -p "$out"
secs=${PROFILE_SECONDS:-10}
conns=${PROFILE_CONNS:-64}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (or run scripts/bench.sh once)" >&2; exit 1; }

printf '{"Replace":{"%s/cmd/rtgate/zz_bench_pprof.go":"%s/bench/profile/pprof_overlay.go.txt"}}' "$root" "$root" >"$out/overlay.json"
go build -overlay "$out/overlay.json" -o "$out/rtgate" ./cmd/rtgate
(cd bench && go build -o "$out/upstream" ./cmd/upstream)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port)
"$out/upstream" -addr "127.0.0.1:$up" >"$out/upstream.log" 2>&1 &
pids+=($!)

# serve NAME LIMIT WINDOW_MS: an rtgate as scripts/bench.sh runs it; sets
# $port and $pprof.
serve() {
	local admin
	port=$(free_port); admin=$(free_port); pprof=$(free_port)
	APP_ENV=development OPENAI_API_KEY=sk-bench-not-a-real-key OPENAI_BASE_URL="http://127.0.0.1:$up/v1" \
		HOST=127.0.0.1 PORT="$port" ADMIN_ADDR="127.0.0.1:$admin" ALLOWED_ORIGINS=https://app.example.com \
		AUTH_MODE=none DEMO_PAGE=false REQUIRE_HTTPS=false LOG_LEVEL=info \
		RATE_LIMIT_MAX_REQUESTS="$2" RATE_LIMIT_WINDOW_MS="$3" RTGATE_BENCH_PPROF_ADDR="127.0.0.1:$pprof" \
		"$out/rtgate" serve >/dev/null 2>"$out/$1.log" &
	pids+=($!)
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
}

mallocs() { curl -fsS "http://127.0.0.1:$1/debug/vars" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memstats"]["Mallocs"])'; }

# profile NAME PORT PPROF: warm up, then wrk while taking both profiles.
profile() {
	local name=$1 port=$2 pprof=$3 m0 m1 n c1 c2
	wrk -t2 -c"$conns" -d2s -H 'Origin: https://app.example.com' "http://127.0.0.1:$port/api/realtime-session" >/dev/null
	m0=$(mallocs "$pprof")
	curl -fsS -o "$out/cpu-$name.pprof" "http://127.0.0.1:$pprof/debug/pprof/profile?seconds=$secs" &
	c1=$!
	curl -fsS -o "$out/allocs-$name.pprof" "http://127.0.0.1:$pprof/debug/pprof/allocs?seconds=$secs" &
	c2=$!
	wrk -t2 -c"$conns" -d"$((secs + 2))s" -H 'Origin: https://app.example.com' "http://127.0.0.1:$port/api/realtime-session" >"$out/wrk-$name.txt"
	wait "$c1" "$c2"
	m1=$(mallocs "$pprof")
	n=$(awk '/requests in/ {print $1}' "$out/wrk-$name.txt")
	echo "== $name: $(grep Requests/sec "$out/wrk-$name.txt"), $(( (m1 - m0) / n )) allocations per request (MemStats.Mallocs over the wrk run)"
	go tool pprof -top -nodecount=25 "$out/rtgate" "$out/cpu-$name.pprof" 2>/dev/null | sed -n '4,32p'
	echo "-- cumulative, rtgate's own code:"
	go tool pprof -top -cum -nodecount=400 "$out/rtgate" "$out/cpu-$name.pprof" 2>/dev/null | grep -E 'rtgate/internal|slog|Syscall6$' | sed -n '1,25p'
	echo "-- allocations (objects):"
	go tool pprof -sample_index=alloc_objects -top -nodecount=20 "$out/rtgate" "$out/allocs-$name.pprof" 2>/dev/null | sed -n '5,28p'
}

echo "uptime: $(uptime)"
serve mint 1000000 1000
profile mint "$port" "$pprof"
serve flood 1 60000
profile 429 "$port" "$pprof"
echo "uptime: $(uptime)"
echo "profiles in $out"
