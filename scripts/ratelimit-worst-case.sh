#!/usr/bin/env bash
# Measures the per-IP rate limit's worst case on a running binary: a client
# that asks every INTERVAL_MS for DURATION_S against rtgate in development
# (built-in simulator), then the most 200s in any WINDOW_MS. The environment
# is passed on (RATE_LIMIT_MAX_REQUESTS, RATE_LIMIT_WINDOW_MS,
# RATE_LIMIT_BURST), so the defaults are measured unless set.
#
#   scripts/ratelimit-worst-case.sh                      # 10 per 60 s, burst 10: 19
#   RATE_LIMIT_BURST=1 scripts/ratelimit-worst-case.sh   # strict: 10
set -euo pipefail
cd "$(dirname "$0")/.."
window_ms=${RATE_LIMIT_WINDOW_MS:-60000}
interval_ms=${INTERVAL_MS:-200}
duration_s=${DURATION_S:-70}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/rtgate" ./cmd/rtgate
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APP_ENV=development OPENAI_API_KEY= HOST=127.0.0.1 PORT=$port ADMIN_ADDR=off LOG_LEVEL=error \
  "$tmp/rtgate" serve 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
end=$(( $(date +%s%3N) + duration_s * 1000 ))
while [ "$(date +%s%3N)" -lt "$end" ]; do
  t=$(date +%s%3N)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/api/realtime-session")
  echo "$t $code" >>"$tmp/hits"
  sleep "$(awk -v ms="$interval_ms" 'BEGIN{printf "%.3f", ms/1000}')"
done
awk -v w="$window_ms" '
  $2 == 200 { t[n++] = $1 }
  { total++ }
  END {
    best = 0; j = 0
    for (i = 0; i < n; i++) { while (t[i] - t[j] >= w) j++; if (i - j + 1 > best) best = i - j + 1 }
    printf "requests %d, admitted %d, most admitted in any %d ms window: %d\n", total, n, w, best
  }' "$tmp/hits"
