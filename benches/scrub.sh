#!/usr/bin/env bash
# What scrubbing freed memory costs, measured in one run against the plain system
# allocator. Builds the default binary (scrubbing allocator) and a `--features plain-alloc`
# binary (system allocator), then, alternating RUNS times each:
#   - engine: `volatile scan` over DIR with THREADS threads (median wall time);
#   - HTTP: `volatile serve --threads 1` pinned to core 0, posted the 300-line TypeScript
#     request of benches/http.sh by wrk pinned to core 1 for HTTP_SECONDS (median req/s).
# Prints the medians and the cost of scrubbing for each (goal: <= 5%).
#
#   benches/scrub.sh DIR [RUNS] [THREADS] [HTTP_SECONDS]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
dir="${1:?usage: benches/scrub.sh DIR [RUNS] [THREADS] [HTTP_SECONDS]}"
runs="${2:-5}"
threads="${3:-2}"
http_seconds="${4:-10}"
plain_target="${PLAIN_TARGET_DIR:-target/plain-alloc}"
cargo build --release -q -p volatile-server
CARGO_TARGET_DIR="$plain_target" cargo build --release -q -p volatile-server --features plain-alloc
scrub_bin="${CARGO_TARGET_DIR:-target}/release/volatile"
plain_bin="$plain_target/release/volatile"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
benches/http-sample.sh "$work"

scan_seconds() {
  local start end
  start=$(date +%s.%N)
  "$1" scan --format json --fail-on never --no-progress --threads "$threads" "$dir" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}

http_rps() {
  local port=18444
  taskset -c 0 "$1" serve --addr "127.0.0.1:$port" --threads 1 \
    --write-dev-cert "$work/cert.pem" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf --cacert "$work/cert.pem" "https://localhost:$port/healthz" >/dev/null && break
    sleep 0.1
  done
  taskset -c 1 wrk -t1 -c8 -d2s -s "$work/post.lua" "https://127.0.0.1:$port/v1/analyze" >/dev/null
  taskset -c 1 wrk -t1 -c8 -d"${http_seconds}s" -s "$work/post.lua" \
    "https://127.0.0.1:$port/v1/analyze" | awk '/Requests\/sec/ {print $2}'
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

scan_scrub=(); scan_plain=(); http_scrub=(); http_plain=()
for _ in $(seq "$runs"); do
  scan_scrub+=("$(scan_seconds "$scrub_bin")")
  scan_plain+=("$(scan_seconds "$plain_bin")")
  http_scrub+=("$(http_rps "$scrub_bin")")
  http_plain+=("$(http_rps "$plain_bin")")
done
python3 - "${scan_scrub[*]}" "${scan_plain[*]}" "${http_scrub[*]}" "${http_plain[*]}" <<'PY'
import statistics, sys
ss, sp, hs, hp = ([float(x) for x in arg.split()] for arg in sys.argv[1:5])
mss, msp, mhs, mhp = map(statistics.median, (ss, sp, hs, hp))
print(f"engine scan, scrubbing: median {mss:.2f} s    {['%.2f' % x for x in ss]}")
print(f"engine scan, plain:     median {msp:.2f} s    {['%.2f' % x for x in sp]}")
print(f"HTTP, scrubbing:        median {mhs:.1f} req/s {['%.1f' % x for x in hs]}")
print(f"HTTP, plain:            median {mhp:.1f} req/s {['%.1f' % x for x in hp]}")
print(f"cost of scrubbing: engine {100 * (mss / msp - 1):+.1f}%, "
      f"HTTP {100 * (1 - mhs / mhp):+.1f}% (goal <= 5% each)")
PY
