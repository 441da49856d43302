#!/usr/bin/env bash
# Prints the Python interpreter the tool venvs of `.ci/run` are built with: the newest
# 3.12+ found (on PATH, or installed by pyenv), else `python3`. Python 3.11's parser can
# fail inside Hypothesis on deeply recursive schemas ("AST constructor recursion depth
# mismatch"), which is why a newer one is preferred.
set -euo pipefail
for candidate in python3.13 python3.12 "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]*/bin/python3; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
echo python3
