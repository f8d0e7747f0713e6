#!/usr/bin/env bash
# bench-ab.sh: rtgate at two revisions side by side, as scripts/bench.sh runs
# it (LOG_LEVEL=info to a file, the benchmark's 0 ms upstream; loopback
# only): the GET mint and the 429 flood under wrk, BASE and the working tree
# alternating per round. Prints requests per second, CPU µs per request
# (utime + stime of the rtgate process over the run) and allocations per
# request (go_memstats_mallocs_total on the admin /metrics), and their
# medians. CPU and allocations per request hold on a busy machine better
# than the throughput does.
#
# Usage: scripts/bench-ab.sh BASE
# Env:   AB_SECONDS [6]  AB_ROUNDS [5]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-ab.sh BASE}
secs=${AB_SECONDS:-6}
rounds=${AB_ROUNDS:-5}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (or run scripts/bench.sh once)" >&2; exit 1; }
out=$(mktemp -d)
[ -z "${AB_KEEP:-}" ] || echo "bench-ab: work directory $out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${AB_KEEP:-}" ] || rm -rf "$out"; }
trap cleanup EXIT
mkdir -p "$out/base"
git archive "$base" | tar -x -C "$out/base"
(cd "$out/base" && go build -o "$out/rtgate-base" ./cmd/rtgate)
go build -o "$out/rtgate-head" ./cmd/rtgate
(cd bench && go build -o "$out/upstream" ./cmd/upstream)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port)
"$out/upstream" -addr "127.0.0.1:$up" >/dev/null 2>&1 &
pids+=($!)
declare -A port admin pid
# serve NAME BIN LIMIT WINDOW_MS: an rtgate as scripts/bench.sh runs it.
serve() {
	local p a
	p=$(free_port); a=$(free_port)
	APP_ENV=development OPENAI_API_KEY=sk-bench-not-a-real-key OPENAI_BASE_URL="http://127.0.0.1:$up/v1" \
		HOST=127.0.0.1 PORT="$p" ADMIN_ADDR="127.0.0.1:$a" ALLOWED_ORIGINS=https://app.example.com \
		AUTH_MODE=none DEMO_PAGE=false REQUIRE_HTTPS=false LOG_LEVEL=info MAX_CONNS_PER_IP=100000 \
		RATE_LIMIT_MAX_REQUESTS="$3" RATE_LIMIT_WINDOW_MS="$4" "$out/rtgate-$2" serve >/dev/null 2>"$out/$1.log" &
	pid[$1]=$!
	pids+=($!)
	port[$1]=$p
	admin[$1]=$a
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$p/healthz" 2>/dev/null && break; sleep 0.1; done
}
for rev in base head; do
	serve "mint-$rev" "$rev" 1000000 1000
	serve "429-$rev" "$rev" 1 60000
done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mallocs() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^go_memstats_mallocs_total/ {printf "%.0f\n", $2}'; }
# run NAME: one wrk run; appends "NAME RPS CPU_US ALLOCS" to $out/runs.
run() {
	local c0 c1 m0 m1 n
	c0=$(cpu "${pid[$1]}"); m0=$(mallocs "${admin[$1]}")
	n=$(wrk -t2 -c64 -d"${secs}s" -H 'Origin: https://app.example.com' "http://127.0.0.1:${port[$1]}/api/realtime-session" | awk '/requests in/ {print $1}')
	c1=$(cpu "${pid[$1]}"); m1=$(mallocs "${admin[$1]}")
	echo "$1 $((n / secs)) $(echo "($c1 - $c0) * 1000000 / $ticks / $n" | bc -l) $(( (m1 - m0) / n ))" | tee -a "$out/runs"
}
echo "bench-ab: base $(git rev-parse --short "$base"), head $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'); $(uptime)"
for name in mint-base mint-head 429-base 429-head; do
	wrk -t2 -c64 -d2s -H 'Origin: https://app.example.com' "http://127.0.0.1:${port[$name]}/api/realtime-session" >/dev/null
done
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then order="mint-base mint-head 429-base 429-head"; else order="mint-head mint-base 429-head 429-base"; fi
	for name in $order; do run "$name" >/dev/null; done
done
echo "bench-ab: $(uptime)"
python3 - "$out/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, cpu, allocs = line.split()
    runs.setdefault(name, []).append((float(rps), float(cpu), float(allocs)))
med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in runs.items()}
for s in ("mint", "429"):
    (rb, cb, ab), (rh, ch, ah) = med[s + "-base"], med[s + "-head"]
    print(f"{s:4} base {rb:7.0f} req/s {cb:5.1f} µs/req {ab:4.0f} allocs/req | head {rh:7.0f} req/s {ch:5.1f} µs/req {ah:4.0f} allocs/req | CPU {(ch - cb) / cb * 100:+.1f} %")
PY
