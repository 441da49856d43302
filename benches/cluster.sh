#!/usr/bin/env bash
# Horizontal scaling on loopback: N release `volatile serve --plain-http` instances behind an
# nginx round-robin front (what a Kubernetes Service and a TLS-terminating ingress do), load
# from wrk through nginx, for each N (not part of .ci/run).
#
#   benches/cluster.sh [SECONDS] [CONNECTIONS] [N...]      (default: 10 16 1 2 4)
#
# The request is http-sample.sh's 300-line TypeScript file with the default playbooks.
# Every answer is checked (benches/cluster-check.lua): status 200 and the rule ids of its
# findings, in order, equal to those `volatile scan` reports for the same file. Per N it
# prints requests/s, p50/p99 latency, answers checked, server CPU time per request (the
# instances' utime + stime from /proc/PID/stat over the run, divided by the requests they
# answered in it, which are wrk's plus the few still in flight when it stopped),
# nginx's CPU per request, and each instance's share of the requests (from its
# /metrics) to show that nginx spreads them.
#
# The script fails on any answer that is not 200 or not the expected findings, on a
# socket error, on an answer wrk did not check, when the instances' counts disagree with
# wrk's, or when an instance got less than half its fair share of the requests.
#
# On a 2-core machine wrk, nginx and the instances share the same 2 cores: throughput
# cannot grow with N here, and the CPU time per request is the meaningful figure (it
# shows what each added instance costs, not what it adds).
#
# Needs wrk and nginx (Debian's wrk and nginx-light; installed with apt-get when missing
# and run as root, else install them by hand). nginx runs in the foreground from a
# generated config in a temporary directory, never as the system service.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-16}"
counts=("${@:3}")
[[ ${#counts[@]} -gt 0 ]] || counts=(1 2 4)
cargo build --release -q -p volatile-server
bin="$(realpath "${CARGO_TARGET_DIR:-target}/release/volatile")"
root="$PWD"
# shellcheck source=benches/http-lib.sh
source benches/http-lib.sh
ensure_wrk

pids=()
nginx_pid=""
cleanup() {
  local pid
  for pid in "${pids[@]}" $nginx_pid; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

nginx="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$nginx" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
  else
    echo "cluster.sh: nginx is missing: apt-get install nginx-light (as root)" >&2
    exit 2
  fi
fi

# What every answer must hold: the rule ids `volatile scan` finds in the same file at the
# same path, with the playbooks the service applies by default (the team-conventions
# example is not one of them).
mkdir -p "$work/expect/src"
cp "$work/sample.ts" "$work/expect/src/orders.ts"
expect_rules=$(
  cd "$work/expect" && "$bin" scan --format json --fail-on never \
    --rules "$root/rules-examples/typescript" --rules "$root/rules-examples/python" \
    --rules "$root/rules-examples/java" src/orders.ts |
    python3 -c 'import json, sys; print(",".join(f["rule_id"] for f in json.load(sys.stdin)["findings"]))'
)
[[ -n "$expect_rules" ]] || { echo "cluster.sh: the sample has no findings to check" >&2; exit 1; }
export BODY_FILE="$work/body.json" EXPECT_RULES="$expect_rules"
front=18600
hz=$(getconf CLK_TCK)

start_plain() { # PORT: one instance, plain HTTP on loopback; appends its pid to pids
  "$bin" serve --plain-http --addr "127.0.0.1:$1" 2>/dev/null &
  pids+=("$!")
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return
    sleep 0.1
  done
  echo "cluster.sh: the instance on port $1 did not become healthy" >&2
  return 1
}

analyzed() { # PORT: answered /v1/analyze requests, from the instance's /metrics
  curl -sf "http://127.0.0.1:$1/metrics" |
    awk '/^volatile_requests_total\{endpoint="\/v1\/analyze",status="200"\}/ {n = $2} END {print n + 0}'
}

nginx_ticks() { # the nginx master's and its workers' utime + stime
  local pid total=0
  for pid in $nginx_pid $(pgrep -P "$nginx_pid" || true); do
    total=$((total + $(server_pid=$pid cpu_ticks)))
  done
  echo "$total"
}

start_nginx() { # PORT...: the round-robin front on $front
  local dir="$work/nginx" port upstreams=""
  mkdir -p "$dir/logs" "$dir/tmp"
  for port in "$@"; do upstreams+="    server 127.0.0.1:$port;"$'\n'; done
  cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  # Bodies and answers stay in memory: nothing is written under the temp paths.
  client_max_body_size 16m;
  client_body_buffer_size 16m;
  proxy_buffers 16 64k;
  proxy_max_temp_file_size 0;
  upstream volatile {
$upstreams    keepalive 64;
  }
  server {
    listen 127.0.0.1:$front;
    location / {
      proxy_pass http://volatile;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" &
  nginx_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$front/healthz" >/dev/null && return
    sleep 0.1
  done
  echo "cluster.sh: nginx did not answer on port $front" >&2
  cat "$dir/logs/error.log" >&2
  return 1
}

stop_all() {
  local pid
  for pid in "${pids[@]}" $nginx_pid; do
    server_pid=$pid stop_server
  done
  pids=()
  nginx_pid=""
}

echo "cluster.sh: ${seconds} s per N, $connections connections, wrk -t2, on $(nproc) cores;"
echo "every answer must be 200 with the rule ids [${expect_rules:0:60}...] ($(tr ',' '\n' <<<"$expect_rules" | wc -l) findings)"
results=()
failed=0
for n in "${counts[@]}"; do
  ports=()
  for i in $(seq "$n"); do
    ports+=("$((front + i))")
    start_plain "$((front + i))"
  done
  start_nginx "${ports[@]}"
  wrk -t2 -c"$connections" -d2s -s benches/cluster-check.lua "http://127.0.0.1:$front/v1/analyze" >/dev/null
  sleep 1 # the warm-up's last requests finish before the counts are read
  before_count=() before_ticks=()
  for i in "${!ports[@]}"; do
    before_count+=("$(analyzed "${ports[$i]}")")
    before_ticks+=("$(server_pid=${pids[$i]} cpu_ticks)")
  done
  nginx_before=$(nginx_ticks)
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --timeout 30s -s benches/cluster-check.lua \
    "http://127.0.0.1:$front/v1/analyze" | tail -n 1)
  nginx_after=$(nginx_ticks)
  sleep 1 # requests still in flight when wrk stopped finish: counted with their CPU time
  shares=()
  for i in "${!ports[@]}"; do
    count=$(($(analyzed "${ports[$i]}") - before_count[i]))
    ticks=$(($(server_pid=${pids[$i]} cpu_ticks) - before_ticks[i]))
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/${pids[$i]}/status")
    shares+=("$count:$ticks:$hwm")
  done
  stop_all
  row=$(python3 - "$n" "$out" "$hz" "$((nginx_after - nginx_before))" "$connections" "${shares[@]}" <<'PY'
import json, sys
n, r, hz, nginx_ticks, conns = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
shares = [tuple(int(x) for x in s.split(":")) for s in sys.argv[6:]]
req = r["requests"]
counts = [c for c, _, _ in shares]
ticks = sum(t for _, t, _ in shares)
problems = []
if r["mismatched"]: problems.append(f"{r['mismatched']} answers with other findings ({r['first_bad']})")
if r["not_200"]: problems.append(f"{r['not_200']} answers not 200 ({r['first_bad']})")
if any(r["errors"].values()): problems.append(f"socket errors {r['errors']}")
checked = r["checked_ok"] + r["mismatched"] + r["not_200"]
if checked != req: problems.append(f"{req - checked} answers not checked")
if req == 0: problems.append("no requests completed")
fair = sum(counts) / n
if any(c < fair / 2 for c in counts): problems.append(f"uneven spread {counts}")
# The instances answered every request wrk counted, plus those still in flight at its end.
if not req <= sum(counts) <= req + conns: problems.append(f"instances counted {sum(counts)}, wrk {req}")
# CPU time over the same requests the instances counted (wrk's plus its last in flight).
served = max(sum(counts), 1)
ms = lambda t, per: t * 1000 / hz / per
print(json.dumps({
    "n": n, "rps": req / r["seconds"], "p50": r["p50_ms"], "p99": r["p99_ms"],
    "checked": r["checked_ok"], "requests": req, "cpu_ms": ms(ticks, served), "nginx_ms": ms(nginx_ticks, max(req, 1)),
    "counts": counts, "hwm_mib": max(h for _, _, h in shares) / 1024, "problems": problems}))
PY
)
  results+=("$row")
  python3 - "$row" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
line = (f"N={r['n']}: {r['rps']:.1f} req/s, {r['checked']} of {r['requests']} answers checked ok, "
        f"requests per instance {r['counts']}")
print(line + ("; FAIL: " + "; ".join(r["problems"]) if r["problems"] else ""))
PY
  [[ $row == *'"problems": []'* ]] || failed=1
done

echo
python3 - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:]]
print("| instances | requests/s | p50 | p99 | answers checked ok | server CPU per request | nginx CPU per request | requests per instance | peak RSS per instance |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
for r in rows:
    print(f"| {r['n']} | {r['rps']:.1f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | "
          f"{r['checked']} of {r['requests']} | {r['cpu_ms']:.2f} ms | {r['nginx_ms']:.2f} ms | "
          f"{' / '.join(str(c) for c in r['counts'])} | {r['hwm_mib']:.0f} MiB |")
PY
echo
echo "wrk, nginx and the instances share $(nproc) cores here: throughput cannot grow with the"
echo "instance count on this machine; server CPU per request is the figure to compare."
if ((failed)); then
  echo "cluster.sh: FAILED (see above)" >&2
  exit 1
fi
