#!/usr/bin/env bash
# Volatile against ast-grep and the tree-sitter parse floor, on the real-world corpora.
# Fetches what is missing (corpora, ast-grep 0.51.1 and 0.31.1 into target/bench-tools),
# builds release binaries, then runs benches/compare.py, which alternates the tools run by
# run and prints the table of ratios that benches/README.md records.
#
#   benches/compare.sh [CORPORA_DIR] [RUNS] [THREADS]
#
# Each row alternates RUNS times, except java.base against ast-grep 0.31.1 (about 590 s a
# pass), which runs once; compare.py's --slow-runs sets that.
#
# Environment: AST_GREP_051, AST_GREP_031 name existing ast-grep binaries to use instead.
set -euo pipefail
cd "$(dirname "$0")/.."
corpora="${1:-target/corpora}"
runs="${2:-5}"
threads="${3:-2}"
tools="target/bench-tools"
for lang in python typescript java; do
  if [ ! -d "$corpora/$lang" ]; then
    ../shared/corpora/fetch-corpora.sh "$corpora"
    break
  fi
done
install_ast_grep() { # VERSION -> path of its binary
  local dir="$tools/ast-grep-$1"
  if [ ! -x "$dir/bin/ast-grep" ]; then
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install -q "ast-grep-cli==$1" >&2
  fi
  echo "$dir/bin/ast-grep"
}
sg051="${AST_GREP_051:-$(install_ast_grep 0.51.1)}"
sg031="${AST_GREP_031:-$(install_ast_grep 0.31.1)}"
cargo build --release -q -p volatile-server -p volatile-benches
exec python3 benches/compare.py --corpora "$corpora" --runs "$runs" --threads "$threads" \
  --volatile "${CARGO_TARGET_DIR:-target}/release/volatile" \
  --parse-only "${CARGO_TARGET_DIR:-target}/release/parse-only" \
  --sg051 "$sg051" --sg031 "$sg031"
