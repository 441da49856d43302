#!/usr/bin/env bash
# What scrubbing freed memory costs: `volatile scan` over the same files with the default
# build (scrubbing allocator) and a `--features plain-alloc` build (system allocator),
# alternating, RUNS times each; prints the median wall times and the ratio.
#
#   benches/scrub.sh DIR [RUNS] [THREADS]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
dir="${1:?usage: benches/scrub.sh DIR [RUNS] [THREADS]}"
runs="${2:-5}"
threads="${3:-2}"
plain_target="${PLAIN_TARGET_DIR:-target/plain-alloc}"
cargo build --release -q -p volatile-server
CARGO_TARGET_DIR="$plain_target" cargo build --release -q -p volatile-server --features plain-alloc
scrub_bin="${CARGO_TARGET_DIR:-target}/release/volatile"
plain_bin="$plain_target/release/volatile"
time_one() {
  local start end
  start=$(date +%s.%N)
  "$1" scan --format json --fail-on never --no-progress --threads "$threads" "$dir" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
scrub=(); plain=()
for i in $(seq "$runs"); do
  scrub+=("$(time_one "$scrub_bin")")
  plain+=("$(time_one "$plain_bin")")
done
python3 - "${scrub[*]}" "${plain[*]}" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
ms, mp = statistics.median(s), statistics.median(p)
print(f"scrubbing: median {ms:.2f} s  {['%.2f' % x for x in s]}")
print(f"plain:     median {mp:.2f} s  {['%.2f' % x for x in p]}")
print(f"cost of scrubbing: {100 * (ms / mp - 1):+.1f}% (goal <= 5%)")
PY
