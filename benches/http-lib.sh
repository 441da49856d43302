# Sourced by the HTTP benchmarks (http.sh, scrub.sh, load.sh): wrk, a scratch directory
# with the sample request, and a server started and waited for.
#
#   source benches/http-lib.sh    # sets $work (removed on exit) and writes the sample
#   ensure_wrk
#   start_server PORT CMD...      # CMD is the full `volatile serve` command line (prefix
#                                 # it with taskset to pin); sets $server_pid
#   stop_server
#   cpu_ticks                     # the server's user + system time, in clock ticks

ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
}

start_server() {
  local port="$1"
  shift
  "$@" --addr "127.0.0.1:$port" --write-dev-cert "$work/cert.pem" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf --cacert "$work/cert.pem" "https://localhost:$port/healthz" >/dev/null && return
    sleep 0.1
  done
  echo "the server on port $port did not become healthy" >&2
  return 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$server_pid/stat"
}

work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
benches/http-sample.sh "$work"
