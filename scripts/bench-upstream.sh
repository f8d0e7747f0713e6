#!/usr/bin/env bash
# bench-upstream.sh: the latency rtgate adds over a direct call to the
# OpenAI simulator, under load, on loopback only.
#
# It builds rtgate, runs `rtgate simulate` and `rtgate serve` (pointed at
# the simulator, the per-IP limiter skipped for 127.0.0.1) as background
# processes on 127.0.0.1, then runs the same hey load against
#   direct:  POST http://127.0.0.1:$SIM_PORT/v1/realtime/client_secrets
#   gateway: POST http://127.0.0.1:$GW_PORT/api/realtime-session
# and prints both latency distributions and the p50/p99 difference.
#
# Usage: scripts/bench-upstream.sh [-n requests] [-c concurrency]
# Env:   SIM_PORT (18089), GW_PORT (18080), ADMIN_PORT (19090)
# Needs: go, curl; installs hey (Debian package hey) with apt-get when it is
# missing (as root, or through sudo).
set -euo pipefail

N=20000
C=20
while getopts "n:c:" opt; do
	case $opt in
	n) N=$OPTARG ;;
	c) C=$OPTARG ;;
	*) echo "usage: $0 [-n requests] [-c concurrency]" >&2; exit 2 ;;
	esac
done
SIM_PORT=${SIM_PORT:-18089}
GW_PORT=${GW_PORT:-18080}
ADMIN_PORT=${ADMIN_PORT:-19090}
HOST=127.0.0.1

if ! command -v hey >/dev/null; then
	echo "hey not found: installing the Debian package hey" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null
	command -v hey >/dev/null || { echo "could not install hey: apt-get install hey" >&2; exit 1; }
fi
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/rtgate" ./cmd/rtgate
key="sk-bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"

SIMULATOR_ADDR="$HOST:$SIM_PORT" SIMULATOR_API_KEYS="$key" LOG_LEVEL=warn \
	"$work/rtgate" simulate 2>"$work/sim.log" &
pids+=($!)
APP_ENV=development OPENAI_API_KEY="$key" OPENAI_BASE_URL="http://$HOST:$SIM_PORT/v1" \
	HOST=$HOST PORT=$GW_PORT ADMIN_ADDR="$HOST:$ADMIN_PORT" RATE_LIMIT_WHITELIST=$HOST \
	"$work/rtgate" serve 2>"$work/gw.log" &
pids+=($!)

wait_up() {
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "not up: $1" >&2
	cat "$work"/*.log >&2
	exit 1
}
wait_up "http://$HOST:$ADMIN_PORT/healthz"
curl -sS -o /dev/null -X POST "http://$HOST:$SIM_PORT/v1/realtime/client_secrets" || true

body='{"expires_after":{"anchor":"created_at","seconds":60},"session":{"type":"realtime","model":"gpt-realtime-2.1","audio":{"output":{"voice":"marin"}}}}'
direct=(hey -n "$N" -c "$C" -m POST -T application/json -H "Authorization: Bearer $key" -d "$body"
	"http://$HOST:$SIM_PORT/v1/realtime/client_secrets")
gateway=(hey -n "$N" -c "$C" -m POST "http://$HOST:$GW_PORT/api/realtime-session")

# Warm both paths (connections, pools), then measure.
hey -n 2000 -c "$C" -m POST -T application/json -H "Authorization: Bearer $key" -d "$body" \
	"http://$HOST:$SIM_PORT/v1/realtime/client_secrets" >/dev/null
hey -n 2000 -c "$C" -m POST "http://$HOST:$GW_PORT/api/realtime-session" >/dev/null

echo "== direct: hey -n $N -c $C -m POST -T application/json -H 'Authorization: Bearer …' -d '<mint body>' http://$HOST:$SIM_PORT/v1/realtime/client_secrets"
"${direct[@]}" >"$work/direct.txt"
echo "== gateway: hey -n $N -c $C -m POST http://$HOST:$GW_PORT/api/realtime-session"
"${gateway[@]}" >"$work/gateway.txt"

pct() { awk -v p="$2%" '$1 == p && $2 == "in" { printf "%.3f", $3 * 1000 }' "$1"; }
codes() { awk '/Status code distribution/ {f=1; next} f && NF {print} /^$/ && f {exit}' "$1" | tr -s ' ' | paste -sd, -; }
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
printf '\n%-8s %10s %10s %10s %10s  %s\n' path p50_ms p90_ms p99_ms req/s statuses
for f in direct gateway; do
	printf '%-8s %10s %10s %10s %10s  %s\n' "$f" "$(pct "$work/$f.txt" 50)" "$(pct "$work/$f.txt" 90)" \
		"$(pct "$work/$f.txt" 99)" "$(rps "$work/$f.txt")" "$(codes "$work/$f.txt")"
done
awk -v d50="$(pct "$work/direct.txt" 50)" -v g50="$(pct "$work/gateway.txt" 50)" \
	-v d99="$(pct "$work/direct.txt" 99)" -v g99="$(pct "$work/gateway.txt" 99)" \
	'BEGIN { printf "added    p50 %+.3f ms   p99 %+.3f ms\n", g50 - d50, g99 - d99 }'
echo
echo "upstream metrics after the run:"
curl -fsS "http://$HOST:$ADMIN_PORT/metrics" | grep -E '^rtgate_upstream_requests_total|^rtgate_http_requests_total.*realtime-session' || true
