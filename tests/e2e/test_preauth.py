"""What an unauthenticated client can make the relay hold, with two workers: one source gets 20 new
connections, not 20 per worker; 256 handshakes in progress per worker, and a connection goes to a
worker with room; the agent's links carry streams meanwhile; the handshake timeout gives every place
back. Raw TCP connections that never send a byte stand for a scanner; each source is an address of
127.0.0.0/8, which is all loopback on Linux.
Run: python3 -m unittest tests/e2e/test_preauth.py
"""
import math
import os
import re
import resource
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Ferry, curl  # noqa: E402
from test_pool import Echo, echo_once, serve, stop, tunnel  # noqa: E402

HANDSHAKE_TIMEOUT_S = 25  # steps 1 and 2 must finish inside it, also under ASan on 2 busy cores
RATE = 'ferry_handshake_failures_total{reason="rate_limited"}'
FULL = 'ferry_handshake_failures_total{reason="too_many_unauthenticated"}'
TIMEOUT = 'ferry_handshake_failures_total{reason="timeout"}'
WORKERS = ['ferry_worker_links{worker="%d"}' % w for w in range(2)]


def closed_by_peer(s):
    """True once the relay has closed `s` (EOF or reset); False while it holds it open."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class PreAuth(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2048 <= hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
        self.echo = serve(Echo)
        self.addCleanup(stop, self.echo)
        self.ferry = Ferry(["allow 127.0.0.1:%d" % self.echo.server_address[1]],
                           relay_extra='admin_listen = "127.0.0.1:0"\nworkers = 2\n',
                           limits="handshake_timeout_ms = %d\n" % (HANDSHAKE_TIMEOUT_S * 1000))
        self.addCleanup(self.ferry.close)
        self.held = []
        self.addCleanup(lambda: [s.close() for s in self.held])

    def metrics(self):
        admin = self.ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        rc, body, err = curl("http://%s/metrics" % admin)
        self.assertEqual(rc, 0, err)
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+) (\d+)$", body.decode(), re.M)}

    def connect_from(self, source, count):
        for _ in range(count):
            s = socket.socket()
            s.bind((source, 0))
            s.connect(("127.0.0.1", self.ferry.relay_port))
            self.held.append(s)

    def settle(self, timeout=10.0):
        """Waits until the relay has answered every held connection: each is either closed (a refusal,
        counted in the metrics) or held as a handshake (counted in its worker's links, beside the
        agent's two). Returns (closed, metrics)."""
        deadline = time.time() + timeout
        while True:
            closed = sum(closed_by_peer(s) for s in self.held)
            m = self.metrics()
            if closed + sum(m[w] for w in WORKERS) - 2 == len(self.held) or time.time() > deadline:
                return closed, m
            time.sleep(0.05)

    def test_limits_hold_across_workers_and_agents_carry_on(self):
        self.assertEqual([self.metrics()[w] for w in WORKERS], [1, 1])  # the agent's two links

        # 1. One source opens 30 connections: 20 are held, plus what the bucket refilled (10 a second)
        # while they were opened, whichever worker's listener each reached.
        started = time.monotonic()
        self.connect_from("127.0.0.2", 30)
        span = time.monotonic() - started
        closed, m = self.settle()
        self.assertLessEqual(closed, 10)
        self.assertGreaterEqual(closed, 10 - math.ceil(10 * span) - 1, "%.2f s to connect" % span)
        self.assertEqual(m[RATE], closed)
        self.assertEqual(m[FULL], 0)

        # 2. 28 more sources, 20 each: the relay holds 256 handshakes per worker, no more.
        for i in range(3, 31):
            self.connect_from("127.0.0.%d" % i, 20)
        closed, m = self.settle()
        self.assertLess(time.monotonic() - started, HANDSHAKE_TIMEOUT_S - 1, "steps 1 and 2 outlasted the timeout")
        self.assertEqual([m[w] for w in WORKERS], [257, 257])  # 256 handshakes and one link each
        self.assertEqual(closed, len(self.held) - 2 * 256)
        self.assertEqual(m[FULL] + m[RATE], closed)
        self.assertGreater(m[FULL], 0)

        # 3. The agent's links are authenticated and carry streams while the relay is full.
        with tunnel(self.ferry.http_port, self.echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"still here"), b"still here")

        # 4. The handshake timeout closes every held connection and gives its place back.
        deadline = time.time() + HANDSHAKE_TIMEOUT_S + 10
        while time.time() < deadline and not all(closed_by_peer(s) for s in self.held):
            time.sleep(0.1)
        self.assertTrue(all(closed_by_peer(s) for s in self.held))
        deadline = time.time() + 5
        while time.time() < deadline and sum(self.metrics()[w] for w in WORKERS) != 2:
            time.sleep(0.1)
        m = self.metrics()
        self.assertEqual([m[w] for w in WORKERS], [1, 1])
        self.assertEqual(m[TIMEOUT], 2 * 256)
        with tunnel(self.ferry.http_port, self.echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"and after"), b"and after")


if __name__ == "__main__":
    unittest.main()
