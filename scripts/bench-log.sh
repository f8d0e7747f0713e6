#!/usr/bin/env bash
# bench-log.sh: what the log costs per request. Two rtgate instances per
# scenario, LOG_LEVEL=info (one JSON access line per request, plus the
# "token minted" line of a mint, written to a file) and LOG_LEVEL=warn
# (neither is written), under wrk in alternating rounds, for the 429 flood
# and the GET mint to the benchmark's 0 ms upstream; loopback only. Prints
# requests per second and CPU µs per request (utime + stime of the rtgate
# process over the run), and their medians.
#
# Usage: scripts/bench-log.sh
# Env:   LOGBENCH_SECONDS [6]  LOGBENCH_ROUNDS [3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${LOGBENCH_SECONDS:-6}
rounds=${LOGBENCH_ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (or run scripts/bench.sh once)" >&2; exit 1; }
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT
go build -o "$out/rtgate" ./cmd/rtgate
(cd bench && go build -o "$out/upstream" ./cmd/upstream)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port)
"$out/upstream" -addr "127.0.0.1:$up" >/dev/null 2>&1 &
pids+=($!)
declare -A port pid
# serve NAME LOG_LEVEL LIMIT WINDOW_MS: an rtgate as scripts/bench.sh runs it.
serve() {
	local p a
	p=$(free_port); a=$(free_port)
	APP_ENV=development OPENAI_API_KEY=sk-bench-not-a-real-key OPENAI_BASE_URL="http://127.0.0.1:$up/v1" \
		HOST=127.0.0.1 PORT="$p" ADMIN_ADDR="127.0.0.1:$a" ALLOWED_ORIGINS=https://app.example.com \
		AUTH_MODE=none DEMO_PAGE=false REQUIRE_HTTPS=false LOG_LEVEL="$2" MAX_CONNS_PER_IP=100000 \
		RATE_LIMIT_MAX_REQUESTS="$3" RATE_LIMIT_WINDOW_MS="$4" "$out/rtgate" serve >/dev/null 2>"$out/$1.log" &
	pid[$1]=$!
	pids+=($!)
	port[$1]=$p
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$p/healthz" 2>/dev/null && break; sleep 0.1; done
}
serve 429-info info 1 60000
serve 429-warn warn 1 60000
serve mint-info info 1000000 1000
serve mint-warn warn 1000000 1000
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run NAME: one wrk run; appends "NAME RPS CPU_US" to $out/runs.
run() {
	local c0 c1 n
	c0=$(cpu "${pid[$1]}")
	n=$(wrk -t2 -c64 -d"${secs}s" -H 'Origin: https://app.example.com' "http://127.0.0.1:${port[$1]}/api/realtime-session" | awk '/requests in/ {print $1}')
	c1=$(cpu "${pid[$1]}")
	echo "$1 $((n / secs)) $(echo "($c1 - $c0) * 1000000 / $ticks / $n" | bc -l)" | tee -a "$out/runs"
}
echo "bench-log: $(uptime)"
for name in 429-info 429-warn mint-info mint-warn; do
	wrk -t2 -c64 -d2s -H 'Origin: https://app.example.com' "http://127.0.0.1:${port[$name]}/api/realtime-session" >/dev/null
done
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then order="429-info 429-warn mint-info mint-warn"; else order="429-warn 429-info mint-warn mint-info"; fi
	for name in $order; do run "$name" >/dev/null; done
done
echo "bench-log: $(uptime)"
python3 - "$out/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, cpu = line.split()
    runs.setdefault(name, []).append((float(rps), float(cpu)))
med = {n: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for n, v in runs.items()}
for s in ("429", "mint"):
    (ri, ci), (rw, cw) = med[s + "-info"], med[s + "-warn"]
    print(f"{s:5} LOG_LEVEL=info {ri:8.0f} req/s {ci:6.1f} µs/req | warn {rw:8.0f} req/s {cw:6.1f} µs/req | the log: {ci - cw:5.1f} µs per request ({(ci - cw) / ci * 100:.0f} % of the CPU), {(rw - ri) / rw * 100:.0f} % of the throughput")
PY
