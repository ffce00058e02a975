#!/usr/bin/python3
"""bench/protocol/run.py — starts a real driftdbd (tests/integration/driftharness.py) and runs
bench_protocol against its gateway and a raw libzmq ROUTER echo, side by side.

    DRIFT_BUILDDIR=<build dir> /usr/bin/python3 bench/protocol/run.py [--n 20000] [--rounds 3] [--window 256]

Use a build without sanitizers. QUERY_WORKERS (default 2) sets the worker count."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from driftharness import BUILDDIR, Daemon  # noqa: E402
from protoutil import wait_ping  # noqa: E402

exe = os.path.join(BUILDDIR, "bench", "protocol", "bench_protocol")
with Daemon(query_workers=int(os.environ.get("QUERY_WORKERS", "2")), config={"log_level": "warning"}) as d:
    wait_ping(d.endpoint)
    rc = subprocess.call([exe, "--endpoint", d.endpoint] + sys.argv[1:])
sys.exit(rc)
