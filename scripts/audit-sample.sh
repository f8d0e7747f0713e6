#!/usr/bin/env bash
# audit-sample.sh: regenerates the `rtgate audit` sample output shown in
# README.md and docs/tls-and-audit.md, exactly as those documents describe
# it: a local CA and an ECDSA P-256 certificate for localhost/127.0.0.1
# (openssl), rtgate serving TLS on 127.0.0.1:8443 with the plain-HTTP
# redirect on :8080, JWT authentication required, the built-in simulator
# upstream (development, no key), then
#   rtgate audit https://localhost:8443 --origin https://app.example.com \
#     --http http://localhost:8080 --ca ca.pem
# Its stdout is the sample; paste it, do not edit it.
#
# Usage: scripts/audit-sample.sh
# Env:   TLS_PORT (8443), HTTP_PORT (8080), ADMIN_PORT (19091),
#        AUTH_MODE (jwt; AUTH_MODE=none shows the anonymous-mint FAIL)
# Needs: go, openssl, curl.
set -euo pipefail

TLS_PORT=${TLS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-19091}
AUTH_MODE=${AUTH_MODE:-jwt}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/rtgate" ./cmd/rtgate
(
	cd "$work"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=rtgate local CA" -keyout ca.key -out ca.pem 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout key.pem -out cert.csr 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
	openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 90 \
		-extfile ext.cnf -out cert.pem 2>/dev/null
)

TLS_CERT_FILE="$work/cert.pem" TLS_KEY_FILE="$work/key.pem" HOST=127.0.0.1 PORT="$TLS_PORT" \
HTTP_REDIRECT_ADDR="127.0.0.1:$HTTP_PORT" ALLOWED_ORIGINS=https://app.example.com REQUIRE_HTTPS=true \
AUTH_MODE="$AUTH_MODE" AUTH_JWT_SECRET="$(openssl rand -base64 48)" ADMIN_ADDR="127.0.0.1:$ADMIN_PORT" \
	"$work/rtgate" serve 2>"$work/rtgate.log" &
pid=$!
for _ in $(seq 100); do
	curl -fsk "https://127.0.0.1:$TLS_PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

cd "$work"
./rtgate audit https://localhost:"$TLS_PORT" --origin https://app.example.com \
	--http http://localhost:"$HTTP_PORT" --ca ca.pem || true
