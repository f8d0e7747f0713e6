#!/usr/bin/env bash
# The whole test suite: installs its external components, then formatting,
# vet, staticcheck and every test (race detector on), all against loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
# The race detector runs on every package whose own code is concurrent. The
# Chromium tests drive a browser through chromedp; instrumenting chromedp's
# large generated protocol package costs minutes of a cold build for nothing,
# so they run without it (the gateway they exercise is race-tested above).
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/e2e/browser$')
go test -count=1 -timeout 10m ./e2e/browser
