"""What an unauthenticated client can make the relay hold, with two workers, and that it cannot lock
agents out. One source holds at most 16 handshakes at a time, and those refused for it spend none of
its 40 new connections (not 40 per worker); a worker holds 256 handshakes, and past half of that a new connection has 1 s to send its
message 1; when every worker is full, the oldest handshake is evicted instead of the newcomer refused.
A flood from 80 sources, topped up all the time, leaves a new agent its link within 10 s. Raw TCP
connections that never send a byte stand for a scanner; each source is an address of 127.0.0.0/8,
which is all loopback on Linux.
Run: python3 -m unittest tests/e2e/test_preauth.py
"""
import math
import os
import re
import resource
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Daemon, Ferry, curl  # noqa: E402
from test_pool import Echo, echo_once, serve, stop, tunnel  # noqa: E402

HANDSHAKE_TIMEOUT_S = 25  # steps 1 and 2 must finish inside it, also under ASan on 2 busy cores
RATE = 'ferry_handshake_failures_total{reason="rate_limited"}'
FULL = 'ferry_handshake_failures_total{reason="too_many_unauthenticated"}'
TIMEOUT = 'ferry_handshake_failures_total{reason="timeout"}'
SOURCE = 'ferry_handshake_failures_total{reason="too_many_from_source"}'
EVICTED = 'ferry_handshake_failures_total{reason="evicted"}'
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
        agent's two), and every refusal or eviction counted has reached its connection. The first
        alone is also true just after a flood, while evicted handshakes are still closing and still
        counted (CI once saw 312 links on a worker that way). Returns (closed, metrics)."""
        deadline = time.time() + timeout
        while True:
            closed = sum(closed_by_peer(s) for s in self.held)
            m = self.metrics()
            refused = m[SOURCE] + m[RATE] + m[EVICTED] + m[TIMEOUT] + m[FULL]
            counted = closed + sum(m[w] for w in WORKERS) - 2 == len(self.held)
            if (counted and refused == closed) or time.time() > deadline:
                return closed, m
            time.sleep(0.05)

    def test_limits_hold_across_workers_and_agents_carry_on(self):
        self.assertEqual([self.metrics()[w] for w in WORKERS], [1, 1])  # the agent's two links

        # 1. One source opens 40 silent connections: it holds 16 handshakes, and the 24 refused for that
        # spend no token of its burst (40, then 10 a second): agents behind one NAT address that arrive
        # together do not use up each other's connections on refusals.
        self.connect_from("127.0.0.2", 40)
        closed, m = self.settle()
        self.assertEqual(len(self.held) - closed, 16)
        self.assertEqual(m[SOURCE], 24)
        self.assertEqual(m[RATE], 0)
        # Its bucket still holds 24 of 40 (and refills): the next ones are refused for the handshakes
        # in progress only.
        self.connect_from("127.0.0.2", 4)
        closed, m = self.settle()
        self.assertEqual((m[SOURCE], m[RATE]), (28, 0))

        # 2. 70 more sources, 8 each: 568 handshakes for 2 x 256 places. No newcomer is refused: the
        # oldest handshakes are evicted, or time out if they came to a busy worker (1 s to speak).
        for i in range(3, 73):
            self.connect_from("127.0.0.%d" % i, 8)
        closed, m = self.settle()
        held = [m[w] - 1 for w in WORKERS]
        self.assertTrue(all(h <= 256 for h in held), held)
        self.assertEqual(closed + sum(held), len(self.held))
        self.assertEqual(m[SOURCE] + m[RATE] + m[EVICTED] + m[TIMEOUT], closed)
        self.assertEqual(m[FULL], 0)  # nobody was turned away for a full relay
        self.assertGreater(m[EVICTED] + m[TIMEOUT], 0)

        # 3. The agent's links are authenticated and carry streams meanwhile.
        with tunnel(self.ferry.http_port, self.echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"still here"), b"still here")

        # 4. Connections that came to a worker past half full had 1 s: what stays is what came before.
        time.sleep(2.5)
        closed, m = self.settle()
        held = [m[w] - 1 for w in WORKERS]
        self.assertTrue(all(h <= 129 for h in held), held)

        # 5. The handshake timeout closes every held connection and gives its place back.
        deadline = time.time() + HANDSHAKE_TIMEOUT_S + 10
        while time.time() < deadline and not all(closed_by_peer(s) for s in self.held):
            time.sleep(0.1)
        self.assertTrue(all(closed_by_peer(s) for s in self.held))
        deadline = time.time() + 5
        while time.time() < deadline and sum(self.metrics()[w] for w in WORKERS) != 2:
            time.sleep(0.1)
        self.assertEqual([self.metrics()[w] for w in WORKERS], [1, 1])
        with tunnel(self.ferry.http_port, self.echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"and after"), b"and after")

    def test_a_new_agent_gets_its_link_while_a_flood_holds_every_place(self):
        """80 sources keep 8 silent connections each open (640 for 512 places), topping them up every
        0.2 s; a new agent started meanwhile is up within 10 s and carries a stream."""
        stop = threading.Event()
        opened = [0]

        def flood():
            mine = {i: [] for i in range(2, 82)}
            while not stop.is_set():
                for i, conns in mine.items():
                    conns[:] = [c for c in conns if not closed_by_peer(c) or c.close()]
                    while len(conns) < 8 and not stop.is_set():
                        c = socket.socket()
                        c.setblocking(False)
                        c.bind(("127.0.0.%d" % i, 0))
                        try:
                            c.connect(("127.0.0.1", self.ferry.relay_port))
                        except BlockingIOError:
                            pass
                        conns.append(c)
                        opened[0] += 1
                stop.wait(0.2)
            for conns in mine.values():
                for c in conns:
                    c.close()

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            deadline = time.time() + 15
            while time.time() < deadline and sum(self.metrics()[w] for w in WORKERS) < 2 + 2 * 256:
                time.sleep(0.1)
            self.assertEqual(sum(self.metrics()[w] for w in WORKERS), 2 + 2 * 256, "the flood did not fill the relay")
            with open(self.ferry.path("agent.toml")) as f:
                self.ferry.write("second.toml", f.read())
            started = time.time()
            second = Daemon([AGENT, "--config", self.ferry.path("second.toml")])
            self.addCleanup(second.stop)
            (_, http_port), _ = second.listening(2)
            second.wait_for(r"link up", timeout=10)
            took = time.time() - started
            with tunnel(http_port, self.echo.server_address[1]) as t:
                self.assertEqual(echo_once(t, b"through the flood"), b"through the flood")
            m = self.metrics()
            print("new agent's link up after %.2f s; flood opened %d connections, %d evicted, %d timed out"
                  % (took, opened[0], m[EVICTED], m[TIMEOUT]), file=sys.stderr)
            self.assertLess(took, 10)
            self.assertGreater(m[EVICTED], 0)
        finally:
            stop.set()
            flooder.join()

if __name__ == "__main__":
    unittest.main()
