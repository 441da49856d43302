#!/usr/bin/env bash
# What scrubbing freed memory costs, measured in one run against the plain system
# allocator. Builds the default binary (scrubbing allocator) and a `--features plain-alloc`
# binary (system allocator), then, alternating RUNS times each:
#   - engine: `volatile scan` over DIR with THREADS threads (median and minimum wall time;
#     with THREADS=1 the scan is pinned to core 1, where the minimum is the steadiest);
#   - HTTP: `volatile serve --threads 1` pinned to core 0, posted the 300-line TypeScript
#     request of benches/http-sample.sh by wrk pinned to core 1 for HTTP_SECONDS (median
#     req/s, and the server's CPU time per request, which other load disturbs less).
# Prints the medians and the cost of scrubbing for each (goal: <= 5%). With CALLGRIND=1 it
# also counts the instructions of one single-threaded scan of DIR per build under valgrind
# (repeatable where wall times on a shared 2-core machine are not).
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
source benches/http-lib.sh
ensure_wrk

scan_seconds() {
  local start end
  start=$(date +%s.%N)
  local pin=()
  [[ "$threads" == 1 ]] && pin=(taskset -c 1)
  "${pin[@]}" "$1" scan --format json --fail-on never --no-progress --threads "$threads" "$dir" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}

# Prints "REQUESTS_PER_SECOND CPU_MS_PER_REQUEST" for one server run: the server's own
# CPU time (user + system, from /proc) over the measured window divided by the requests
# wrk completed in it, which other load on the machine disturbs less than req/s.
http_rps() {
  local port=18444 before after out
  start_server "$port" taskset -c 0 "$1" serve --threads 1
  taskset -c 1 wrk -t1 -c8 -d2s -s "$work/post.lua" "https://127.0.0.1:$port/v1/analyze" >/dev/null
  before=$(cpu_ticks)
  out=$(taskset -c 1 wrk -t1 -c8 -d"${http_seconds}s" -s "$work/post.lua" \
    "https://127.0.0.1:$port/v1/analyze")
  after=$(cpu_ticks)
  stop_server
  python3 - "$out" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import re, sys
out, before, after, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
requests = int(re.search(r"(\d+) requests in", out).group(1))
print(rps, 1000 * (after - before) / hz / requests)
PY
}

scan_scrub=(); scan_plain=(); http_scrub=(); http_plain=()
for _ in $(seq "$runs"); do
  scan_scrub+=("$(scan_seconds "$scrub_bin")")
  scan_plain+=("$(scan_seconds "$plain_bin")")
  http_scrub+=("$(http_rps "$scrub_bin" | tr ' ' ,)")
  http_plain+=("$(http_rps "$plain_bin" | tr ' ' ,)")
done
if [[ "${CALLGRIND:-0}" == 1 ]]; then
  for bin in "$scrub_bin" "$plain_bin"; do
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" scan --format json \
      --fail-on never --no-progress --threads 1 "$dir" 2>&1 >/dev/null |
      awk -v bin="$bin" '/Collected/ {print bin ": " $NF " instructions"}'
  done
fi
python3 - "${scan_scrub[*]}" "${scan_plain[*]}" "${http_scrub[*]}" "${http_plain[*]}" <<'PY'
import statistics, sys
ss, sp = ([float(x) for x in arg.split()] for arg in sys.argv[1:3])
hs, hp = ([[float(v) for v in run.split(",")] for run in arg.split()] for arg in sys.argv[3:5])
mss, msp = statistics.median(ss), statistics.median(sp)
mhs, mhp = (statistics.median(r[0] for r in h) for h in (hs, hp))
mcs, mcp = (statistics.median(r[1] for r in h) for h in (hs, hp))
print(f"engine scan, scrubbing: median {mss:.2f} s, min {min(ss):.2f} s {['%.2f' % x for x in ss]}")
print(f"engine scan, plain:     median {msp:.2f} s, min {min(sp):.2f} s {['%.2f' % x for x in sp]}")
print(f"HTTP, scrubbing:        median {mhs:.1f} req/s, {mcs:.3f} CPU ms/req "
      f"{['%.1f' % r[0] for r in hs]} {['%.3f' % r[1] for r in hs]}")
print(f"HTTP, plain:            median {mhp:.1f} req/s, {mcp:.3f} CPU ms/req "
      f"{['%.1f' % r[0] for r in hp]} {['%.3f' % r[1] for r in hp]}")
print(f"cost of scrubbing: engine {100 * (mss / msp - 1):+.1f}% by median, "
      f"{100 * (min(ss) / min(sp) - 1):+.1f}% by minimum, "
      f"HTTP {100 * (1 - mhs / mhp):+.1f}% by req/s, {100 * (mcs / mcp - 1):+.1f}% by CPU "
      "per request (goal <= 5% each)")
PY
