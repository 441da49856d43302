#!/usr/bin/env bash
# The API contract: schemathesis (from PyPI, pinned) generates requests from the served
# OpenAPI document and checks every answer against it: no 5xx, no schema violation, no
# undocumented status or content type. Runs against a debug or release `volatile serve`
# started here on plain HTTP on loopback.
#
#   tests/api-contract.sh [MAX_EXAMPLES]      (default 100 per operation)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
examples="${1:-100}"
target="${CARGO_TARGET_DIR:-target}"
venv="$target/api-contract-venv"
python="$(tests/newer-python.sh)"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
cargo build -q -p volatile-server
bin="$target/debug/volatile"
port=18666
"$bin" serve --plain-http --addr "127.0.0.1:$port" 2>/dev/null &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
"$venv/bin/schemathesis" --config-file tests/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  --max-examples "$examples" --seed 1 --workers 2 --no-color
kill -0 "$server_pid" || { echo "the server died during the run" >&2; exit 1; }
