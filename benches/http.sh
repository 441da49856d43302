#!/usr/bin/env bash
# HTTP path benchmark: requests/s, p50/p99 latency and server CPU time per request for a
# 300-line TypeScript file with the default example playbooks, over TLS on loopback, with
# the server and the load generator pinned to different cores; then the ratio of HTTP
# throughput to in-process engine throughput on the same file and core count.
#
#   benches/http.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Needs taskset (util-linux) and wrk (installed from Debian's packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
connections="${2:-8}"
cargo build --release -q -p volatile-server -p volatile-benches
source benches/http-lib.sh
ensure_wrk
port=18443
start_server "$port" taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/volatile" serve --threads 1
# Warm up, then measure.
taskset -c 1 wrk -t1 -c"$connections" -d3s -s "$work/post.lua" "https://127.0.0.1:$port/v1/analyze" >/dev/null
ticks_before=$(cpu_ticks)
taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" \
  "https://127.0.0.1:$port/v1/analyze" | tee "$work/wrk.txt"
ticks_after=$(cpu_ticks)
hz=$(getconf CLK_TCK)
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
errors=$(grep -E "Non-2xx|Socket errors" "$work/wrk.txt" || true)
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
cpu_ms=$(python3 -c "print(f'{($ticks_after - $ticks_before) * 1000 / $hz / $requests:.2f}')")
engine=$(taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/engine-rate" "$work/sample.ts" 10)
engine_rate=${engine%% *}
ratio=$(python3 -c "print(f'{$rps / $engine_rate:.2f}')")
echo
echo "HTTP:    $rps req/s, p50 $p50, p99 $p99, server CPU $cpu_ms ms/request (${errors:-no errors})"
echo "engine:  $engine (in process, 1 core)"
echo "ratio:   $ratio (HTTP throughput / in-process engine throughput; goal >= 0.8)"
