#!/usr/bin/env bash
# Overload and soak on loopback against a release `volatile serve` (not part of .ci/run).
#
#   benches/load.sh [SECONDS] [SOAK_REQUESTS]
#
# 1. At saturation: wrk with 8 connections for SECONDS (default 60).
# 2. Well past saturation: 512 connections for SECONDS against --max-inflight 16, so most
#    requests are refused with 503 + Retry-After.
# 3. Soak: SOAK_REQUESTS (default 100000) requests in 20-second rounds, the server's
#    resident memory (VmRSS) sampled after each round.
# Each phase prints the answers by status, the 503s that carried Retry-After, socket
# errors (a reset shows as a read or write error), and p50/p99 latency. The script fails
# when any answer is a 5xx other than 503-with-Retry-After, when a socket error occurs, or
# when resident memory grows by more than 64 MiB from the first soak round to the last.
# The load generator shares the 2 cores with the server: the figures are a lower bound.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
seconds="${1:-60}"
soak="${2:-100000}"
cargo build --release -q -p volatile-server
bin="${CARGO_TARGET_DIR:-target}/release/volatile"
source benches/http-lib.sh
ensure_wrk
port=18555
start_server "$port" "$bin" serve --max-inflight 16
url="https://127.0.0.1:$port/v1/analyze"
export BODY_FILE="$work/body.json"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }

phase() { # NAME CONNECTIONS SECONDS
  local out
  out=$(wrk -t2 -c"$2" -d"$3s" --timeout 30s -s benches/load-count.lua "$url" | tail -n 1)
  echo "$1: $out"
  python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
bad = {s: n for s, n in r["statuses"].items() if s.startswith("5") and s != "503"}
unmarked = r["statuses"].get("503", 0) - r["retry_after_503"]
errors = {k: v for k, v in r["errors"].items() if k != "status" and v}
problems = []
if bad: problems.append(f"5xx other than 503: {bad}")
if unmarked: problems.append(f"{unmarked} 503s without Retry-After")
if errors: problems.append(f"socket errors: {errors}")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
PY
}

phase "at saturation (8 connections)" 8 "$seconds"
phase "past saturation (512 connections, --max-inflight 16)" 512 "$seconds"

done_requests=0
samples=()
while (( done_requests < soak )); do
  out=$(wrk -t2 -c8 -d20s -s benches/load-count.lua "$url" | tail -n 1)
  python3 - "$out" <<'PY' || exit 1
import json, sys
r = json.loads(sys.argv[1])
if set(r["statuses"]) - {"200"} or any(v for k, v in r["errors"].items()):
    sys.exit(f"FAIL in soak: {r}")
PY
  n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$out")
  done_requests=$((done_requests + n))
  samples+=("$(rss_kib)")
  echo "soak: $done_requests requests, VmRSS $(rss_kib) KiB"
done
python3 - "${samples[*]}" <<'PY'
import sys
kib = [int(x) for x in sys.argv[1].split()]
growth = (kib[-1] - kib[0]) / 1024
print(f"soak: VmRSS first round {kib[0] / 1024:.1f} MiB, last {kib[-1] / 1024:.1f} MiB, "
      f"max {max(kib) / 1024:.1f} MiB, growth {growth:+.1f} MiB (bound 64 MiB)")
if growth > 64:
    sys.exit("FAIL: resident memory kept growing")
PY
