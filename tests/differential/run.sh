#!/bin/sh
# Differential test of Volatile against ast-grep 0.51.1 on real-world corpora.
#
#   tests/differential/run.sh [compare.py options...]
#
# 1. fetches the corpora if missing into ${CORPORA_DIR:-<repo>/../corpora}
#    (fetch-corpora.sh from shared/, ~80 s and ~1.1 GB the first time),
# 2. builds volatile (`cargo build --release -p volatile-server`; SKIP_BUILD=1 skips it),
# 3. runs compare.py (which pip-installs ast-grep 0.51.1 under target/ if needed).
# Exit status is compare.py's: 0 sets agree, 1 they differ, 2 harness error.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CORPORA_DIR=${CORPORA_DIR:-$ROOT/../corpora}
FETCH=${FETCH_CORPORA:-$ROOT/../shared/corpora/fetch-corpora.sh}
export CORPORA_DIR

missing=""
for c in python typescript java; do
    [ -d "$CORPORA_DIR/$c" ] || missing="$missing $c"
done
[ -f "$CORPORA_DIR/java/.complete" ] || case "$missing" in *java*) ;; *) missing="$missing java" ;; esac
if [ -n "$missing" ]; then
    [ -f "$FETCH" ] || { echo "run.sh: corpora missing ($missing) and $FETCH not found" >&2; exit 2; }
    echo "run.sh: fetching corpora:$missing into $CORPORA_DIR" >&2
    # shellcheck disable=SC2086
    sh "$FETCH" "$CORPORA_DIR" $missing >&2
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "run.sh: cargo build --release -p volatile-server" >&2
    (cd "$ROOT" && cargo build --release -p volatile-server) >&2
fi

exec python3 "$HERE/compare.py" --corpora "$CORPORA_DIR" \
    --volatile "${VOLATILE:-$ROOT/target/release/volatile}" "$@"
