"""protoutil — raw pyzmq + msgpack helpers for the protocol tests (no client library)."""
import time

import msgpack
import zmq


def pack(**kw):
    kw.setdefault("v", 1)
    return msgpack.packb(kw, use_bin_type=True)


def unpack(b):
    return msgpack.unpackb(b, raw=False)


class Raw:
    """A REQ or DEALER socket on the daemon's endpoint with a receive timeout."""

    def __init__(self, endpoint, kind=zmq.DEALER, timeout_ms=10000):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        self.sock.connect(endpoint)

    def send(self, data):
        self.sock.send(data)

    def recv(self):
        return unpack(self.sock.recv())

    def call(self, **kw):
        self.send(pack(**kw))
        return self.recv()

    def poll(self, ms):
        return self.sock.poll(ms, zmq.POLLIN)

    def close(self):
        self.sock.close(0)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_ping(endpoint, timeout=15.0):
    """Pings until a worker answers (after restarts); returns the reply."""
    deadline = time.monotonic() + timeout
    while True:
        c = Raw(endpoint, zmq.DEALER, timeout_ms=500)
        try:
            r = c.call(id=1, op="ping")
            if r.get("ok"):
                return r
        except zmq.Again:
            pass
        finally:
            c.close()
        if time.monotonic() > deadline:
            raise AssertionError("no ping answer within %.0fs" % timeout)
        time.sleep(0.1)
