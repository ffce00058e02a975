#!/bin/bash
# Runs every sqllogictest file of ../shared/slt (read in place, never copied)
# against a fresh daemon each and prints per-file and total figures. Fails if
# the suite is missing, the runner breaks, or a file passes fewer records than
# tests/slt/baseline.txt says (a ratchet: raise the baseline as the engine grows,
# with tests/slt/slt.py --write-baseline).
set -u
src=${DRIFT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
suite=${DRIFT_SLT_DIR:-$src/../shared/slt}
if [ ! -d "$suite" ]; then
    echo "FAIL: sqllogictest suite not found at $suite (set DRIFT_SLT_DIR)"; exit 1
fi
exec /usr/bin/python3 "$src/tests/slt/slt.py" --root "$suite" --baseline "$src/tests/slt/baseline.txt" "$suite"
