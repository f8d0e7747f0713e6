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
# The benchmark harness is a nested module (its plotting dependencies stay
# out of rtgate's go.mod); scripts/bench.sh runs it, the suite only checks it.
echo "== bench module: vet, build, test"
(cd bench && go vet ./... && go build ./... && go test -count=1 ./...)

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
(cd bench && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...)

echo "== go test"
go test -race -count=1 -timeout 20m ./...
