#!/bin/bash
# tests/fuzz/run-fuzz.sh — builds the libFuzzer target on ipc/msg + ipc/proto with
# clang -fsanitize=fuzzer,address,undefined and runs it for FUZZ_SECONDS (default 60)
# on a copy of tests/fuzz/corpus. A crash fails the test and leaves the input in
# the work directory; fix the bug and add the input to tests/fuzz/corpus/.
# Exit 77 (skipped) when clang or libFuzzer is missing.
set -u
SRCDIR=${DRIFT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${DRIFT_BUILDDIR:-$SRCDIR}
SECS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$CLANG" ]; then echo "clang not found: skipping"; exit 77; fi
WORK=$(mktemp -d /tmp/drift-fuzz.XXXXXX)
trap 'rm -rf "$WORK/corpus" "$WORK/fuzz_msg"' EXIT
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
if ! "$CLANG" $CFLAGS -I"$SRCDIR" -I"$BUILDDIR" $(pkg-config --cflags msgpack-c 2>/dev/null || pkg-config --cflags msgpack) \
    "$SRCDIR/tests/fuzz/fuzz_msg.c" "$SRCDIR/ipc/msg.c" "$SRCDIR/ipc/proto.c" "$SRCDIR/common/errors.c" \
    $(pkg-config --libs msgpack-c 2>/dev/null || pkg-config --libs msgpack) -o "$WORK/fuzz_msg"; then
    echo "cannot build the fuzz target with $CLANG"; exit 1
fi
mkdir -p "$WORK/corpus"
cp "$SRCDIR"/tests/fuzz/corpus/* "$WORK/corpus/" 2>/dev/null
# First replay every corpus file (regression), then fuzz.
"$WORK/fuzz_msg" -runs=0 "$WORK/corpus" >"$WORK/replay.log" 2>&1 || { cat "$WORK/replay.log"; echo "FAIL: corpus replay"; exit 1; }
"$WORK/fuzz_msg" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$WORK/" -print_final_stats=1 "$WORK/corpus" >"$WORK/fuzz.log" 2>&1
rc=$?
tail -n 25 "$WORK/fuzz.log"
if [ $rc -ne 0 ]; then
    echo "FAIL: fuzzer found a problem; inputs in $WORK (add the crash file to tests/fuzz/corpus/ once fixed)"
    ls "$WORK"
    exit 1
fi
rm -rf "$WORK"
echo "OK: ${SECS}s of fuzzing, no crash"
