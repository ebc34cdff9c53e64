#!/usr/bin/env bash
# make demo: the whole of Branchwatch on this machine, nothing configured.
# Needs Go and the PostgreSQL server binaries (Debian: apt-get install
# postgresql; the server need not run). Builds bin/agent, bin/aggregator and
# bin/demo, then runs the demo (shared/demo): a throwaway PostgreSQL with
# three branch databases, an S3-compatible bucket on loopback kept in .demo/,
# each branch's agent, and the dashboard on DEMO_LISTEN (127.0.0.1:8080).
# Ctrl-C stops everything. Extra arguments go to bin/demo (-days N, -listen ADDR).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || { echo "demo: Go is not installed (Go 1.26: https://go.dev/dl)" >&2; exit 1; }

targets=(./agent/cmd/agent ./aggregator/cmd/aggregator ./shared/cmd/demo)
if ! GOPROXY=off go list -deps "${targets[@]}" >/dev/null 2>&1; then
  echo "demo: first run on this machine: downloading Go modules before building (once; later runs are ready within a minute)"
fi
echo "demo: building bin/agent, bin/aggregator, bin/demo"
mkdir -p bin
go build -o bin/ "${targets[@]}"
exec ./bin/demo -dir .demo -bin bin "$@"
