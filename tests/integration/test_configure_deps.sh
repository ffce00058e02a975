#!/bin/bash
# configure must fail with a message naming the Debian package when a library
# is missing. We hide one .pc file at a time from pkg-config (a private
# PKG_CONFIG_LIBDIR holding every other .pc file) and check the message.
set -u
src=${DRIFT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # pc-file-to-hide expected-package
    local hide=$1 pkg=$2
    rm -rf "$tmp/pc" "$tmp/b"; mkdir -p "$tmp/pc" "$tmp/b"
    for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
        [ -d "$d" ] && cp -n "$d"/*.pc "$tmp/pc/" 2>/dev/null
    done
    rm -f "$tmp/pc/$hide"
    out=$(cd "$tmp/b" && PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH= "$src/configure" -q 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "FAIL: configure succeeded without $hide"; fail=1
    elif ! echo "$out" | grep -q "install the Debian package $pkg"; then
        echo "FAIL: configure without $hide did not name $pkg:"; echo "$out" | tail -3; fail=1
    else
        echo "PASS: without $hide configure says: $(echo "$out" | grep -o 'configure: error: .*' | head -1)"
    fi
}
check lmdb.pc liblmdb-dev
check libzmq.pc libzmq3-dev
check cmocka.pc libcmocka-dev
# msgpack: neither msgpack-c.pc nor msgpack.pc
rm -rf "$tmp/pc2"
check msgpack.pc libmsgpack-dev
exit $fail
