#!/bin/bash
# Verifies etc/driftdbd.service with systemd-analyze against the built driftdbd:
# the unit must parse without warnings, be Type=notify with the reload and
# restart contract the docs promise.
set -u
src=${DRIFT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DRIFT_BUILDDIR:-$src}
if ! command -v systemd-analyze >/dev/null; then
    echo "FAIL: systemd-analyze not installed (scripts/install-deps installs systemd)"; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Point the unit at the freshly built binary so verify checks a real executable.
sed "s#/usr/local/bin/driftdbd#$build/driftdbd#g" "$src/etc/driftdbd.service" > "$tmp/driftdbd.service"
out=$(systemd-analyze verify --man=no "$tmp/driftdbd.service" 2>&1)
rc=$?
# In containers systemd-analyze may complain about the host's other units; keep only lines about ours.
ours=$(echo "$out" | grep -i 'driftdbd.service' || true)
if [ $rc -ne 0 ] && [ -n "$ours" ]; then
    echo "FAIL: systemd-analyze verify:"; echo "$out"; exit 1
fi
if [ -n "$ours" ]; then
    echo "FAIL: systemd-analyze reported problems with the unit:"; echo "$ours"; exit 1
fi
fail=0
for want in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'RestartPreventExitStatus=2' \
            'StateDirectory=driftdb' 'RuntimeDirectory=driftdb' 'NoNewPrivileges=yes' 'ProtectSystem=strict'; do
    grep -qxF "$want" "$src/etc/driftdbd.service" || { echo "FAIL: unit lacks $want"; fail=1; }
done
# The unit's ExecStartPre must accept the shipped config.
"$build/driftdbd" --check-config -c "$src/etc/driftdb.conf" >/dev/null || { echo "FAIL: shipped config rejected"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: systemd-analyze verify clean"
exit $fail
