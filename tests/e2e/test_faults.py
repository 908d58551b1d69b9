"""Everyday faults against one relay + agent pair: cancelled downloads, readers that reset or close with
unread data, clients that leave before the relay answers, HTTP clients gone mid-response and
mid-request-body, targets that reset, an agent killed mid-download, a relay killed and restarted, and a
peer that vanishes at each step of every protocol. Each pattern repeats many times, through the SOCKS
port, the HTTP port's CONNECT and the HTTP forwarder. After each one:
- both programs are alive (a write to a vanished client used to kill the agent with SIGPIPE);
- a new stream echoes;
- the descriptor count is back within 10 of where it started, and RSS within 1.5x idle;
- every stream the relay saw has its audit line, and none is left open.
Also the agent's drain on SIGTERM. FERRY_FAULT_SCALE (default 1) scales the repetitions.
Run: python3 -m unittest tests/e2e/test_faults.py
"""
import concurrent.futures
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import (BLOCK, AnswersAtEof, Echo, ResetsMidDownload, ResetsMidUpload, Source, dials, echo_works,  # noqa: E402
                       fd_count, http_connect, metrics, recv_exactly, rss_kib, serve, set_rst_on_close,
                       socks5_open, tunnel, wait_until)
from harness import AGENT, RELAY, Daemon, Ferry, Target, TargetHandler, curl  # noqa: E402

SANITIZED = os.environ.get("FERRY_SANITIZED") == "1"
SCALE = float(os.environ.get("FERRY_FAULT_SCALE", "0.5" if SANITIZED else "1"))
SEED = int(os.environ.get("FERRY_FAULT_SEED", str(int(time.time()))))
BIG = 32 << 20


def times(n):
    return max(4, int(n * SCALE))


def run_many(fn, count, workers=16):
    """Runs fn(i) for i in range(count) on a pool; returns the results (exceptions re-raised)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, range(count)))


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        print("FERRY_FAULT_SEED=%d" % SEED, file=sys.stderr)
        TargetHandler.big = os.urandom(BIG)
        cls.target = Target()
        cls.echo = serve(Echo)
        cls.source = serve(Source)
        cls.resets_down = serve(ResetsMidDownload)
        cls.resets_up = serve(ResetsMidUpload)
        ports = [cls.target.port] + [s.server_address[1] for s in (cls.echo, cls.source, cls.resets_down, cls.resets_up)]
        cls.echo_port, cls.source_port, cls.resets_down_port, cls.resets_up_port = ports[1:]
        cls.rules = ["allow 127.0.0.1:%d" % p for p in ports]
        # A killed agent's session is held for resume_grace_s (docs/protocol.md 2.6) before its targets
        # close: 2 s here, so that each test's check that everything was given back does not wait 90 s.
        cls.ferry = Ferry(cls.rules, relay_extra='admin_listen = "127.0.0.1:0"\n', limits="resume_grace_s = 2\n")
        try:
            cls.admin_port = int(cls.ferry.relay.wait_for(r"admin listening on \S+:(\d+)").group(1))
            cls.settle_baseline(cls)
        except BaseException:
            cls.tearDownClass()  # unittest does not when setUpClass fails: no daemon is left behind
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        for s in (cls.echo, cls.source, cls.resets_down, cls.resets_up):
            s.shutdown()
            s.server_close()
        cls.target.close()

    def settle_baseline(self):
        """Warms both programs up (a stream of each kind, a short download), then notes the idle figures."""
        for kind in ("socks", "connect"):
            assert echo_works(self.ferry, self.echo_port, kind)
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port,
                             "http://127.0.0.1:%d/big" % self.target.port)
        assert rc == 0 and len(body) == BIG, err
        self.wait_quiet(self)
        self.base_fds = {p: fd_count(p.pid) for p in (self.ferry.relay.proc, self.ferry.agent.proc)}
        self.base_rss = {p: rss_kib(p.pid) for p in (self.ferry.relay.proc, self.ferry.agent.proc)}
        self.base_audit = len(self.ferry.audit().splitlines())
        self.base_dials = dials(metrics(self.admin_port))

    def wait_quiet(self):
        """No stream open at the relay, no client at the agent."""
        wait_until(lambda: metrics(self.admin_port)["ferry_streams"] == 0, 30, "relay streams back to 0")
        # The status request is a client itself.
        wait_until(lambda: self.ferry.agent_status()[1]["clients"] <= 1, 30, "agent clients back to 0")

    def check_after(self, pattern):
        relay, agent = self.ferry.relay.proc, self.ferry.agent.proc
        self.assertIsNone(relay.poll(), "%s: the relay died (exit %s)" % (pattern, relay.returncode))
        self.assertIsNone(agent.poll(), "%s: the agent died (exit %s); log tail:\n%s"
                          % (pattern, agent.returncode, "\n".join(self.ferry.agent.lines[-20:])))
        for kind in ("socks", "connect"):
            self.assertTrue(echo_works(self.ferry, self.echo_port, kind), "%s: no echo through %s" % (pattern, kind))
        self.wait_quiet()
        for p, name in ((relay, "relay"), (agent, "agent")):
            base = self.base_fds[p]
            wait_until(lambda: fd_count(p.pid) <= base + 10 or None, 30,
                       "%s: %s descriptors back within 10 of %d (now %d)" % (pattern, name, base, fd_count(p.pid)))
            if SANITIZED:
                continue  # ASan keeps freed memory in its quarantine: RSS says nothing there
            idle = self.base_rss[p]
            wait_until(lambda: rss_kib(p.pid) <= idle * 1.5 or None, 30,
                       "%s: %s RSS back within 1.5x idle %d KiB (now %d)" % (pattern, name, idle, rss_kib(p.pid)))
        # Every stream the relay dialled (or refused) has ended and written its line; the only other
        # lines are streams the agent cancelled while the relay was still dialling.
        dialled = dials(metrics(self.admin_port)) - self.base_dials
        lines = wait_until(lambda: (lambda l: l if len(l) >= dialled else None)(
            self.ferry.audit().splitlines()[self.base_audit:]), 10,
            "%s: an audit line for each of %d dials" % (pattern, dialled))
        cancelled = [l for l in lines if "while dialling" in l]
        # Past the audit log's refusal budget, refusals and cancelled dials go into one summary line
        # each minute instead of one line each (relay/refusal_budget).
        summaries = [json.loads(l) for l in lines if '"refusals suppressed"' in l]
        suppressed = sum(s["suppressed"] for s in summaries)
        written = len(lines) - len(cancelled) - len(summaries)
        self.assertLessEqual(written, dialled, "%s: audit lines against dials" % pattern)
        self.assertGreaterEqual(written, dialled - suppressed, "%s: audit lines against dials" % pattern)
        for line in lines:
            self.assertRegex(line, r'^\{"time":.*"result":"[^"]+".*\}$')

    # -- the patterns -------------------------------------------------------------------------------------

    def test_cancelled_curl_downloads(self):
        """curl downloads cancelled mid-transfer with Ctrl-C (SIGINT) or --max-time, on every front end."""
        rng = random.Random(SEED)
        url = "http://127.0.0.1:%d/big" % self.target.port
        modes = [["-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port],
                 ["-x", "http://127.0.0.1:%d" % self.ferry.http_port],               # the forwarder
                 ["-p", "-x", "http://127.0.0.1:%d" % self.ferry.http_port]]         # CONNECT
        plan = [(modes[i % 3], rng.uniform(0.05, 0.5), rng.random() < 0.5) for i in range(times(40) * 3)]

        def one(i):
            args, after, by_signal = plan[i]
            argv = ["curl", "-sS", "-o", "/dev/null", "--limit-rate", "40M"] + args + [url]
            if not by_signal:
                argv[1:1] = ["--max-time", "%.2f" % after]
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if by_signal:
                time.sleep(after)
                p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
            return p.returncode, err

        results = run_many(one, len(plan), workers=8)
        cancelled = sum(rc != 0 for rc, _ in results)
        self.assertGreater(cancelled, len(plan) // 2, "most downloads should have been cut mid-transfer")
        self.check_after("cancelled curl downloads")

    def test_readers_that_reset(self):
        rng = random.Random(SEED + 1)
        sizes = [rng.randint(1, 512 * 1024) for _ in range(times(100))]

        def one(i):
            s = tunnel("socks" if i % 2 else "connect", self.ferry, self.source_port)
            s.sendall(b"0\n")
            recv_exactly(s, sizes[i])
            set_rst_on_close(s)
            s.close()

        run_many(one, len(sizes))
        self.check_after("readers that reset")

    def test_readers_that_close_with_unread_data(self):
        rng = random.Random(SEED + 2)
        sizes = [rng.randint(1, 256 * 1024) for _ in range(times(100))]

        def one(i):
            s = tunnel("socks" if i % 2 else "connect", self.ferry, self.source_port)
            s.sendall(b"0\n")
            recv_exactly(s, sizes[i])
            time.sleep(0.05)  # bytes pile up unread in the socket; close() then answers with RST
            s.close()

        run_many(one, len(sizes))
        self.check_after("readers that close with unread data")

    def test_clients_gone_before_the_answer(self):
        """The request reaches the agent and the client leaves before the relay has answered."""
        p = self.echo_port
        name = b"127.0.0.1"
        requests = [
            (self.ferry.socks_port, b"\x05\x01\x00\x05\x01\x00\x03" + bytes([len(name)]) + name + p.to_bytes(2, "big")),
            (self.ferry.socks_port, b"\x04\x01" + p.to_bytes(2, "big") + b"\x00\x00\x00\x01\x00" + name + b"\x00"),
            (self.ferry.http_port, b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % p),
            (self.ferry.http_port, b"GET http://127.0.0.1:%d/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % self.target.port),
        ]

        def one(i):
            port, request = requests[i % len(requests)]
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request)
            if i % 3 == 0:
                set_rst_on_close(s)
            s.close()

        run_many(one, times(200))
        self.check_after("clients gone before the relay's answer")

    def test_http_clients_gone_mid_response_and_mid_request_body(self):
        rng = random.Random(SEED + 3)
        n = times(60)
        cuts = [rng.randint(1, BIG // 4) for _ in range(n)]

        def mid_response(i):
            s = socket.create_connection(("127.0.0.1", self.ferry.http_port), timeout=15)
            s.sendall(b"GET http://127.0.0.1:%d/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % self.target.port)
            recv_exactly(s, cuts[i])
            if i % 2:
                set_rst_on_close(s)
            s.close()

        def mid_body(i):
            s = socket.create_connection(("127.0.0.1", self.ferry.http_port), timeout=15)
            s.sendall(b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8388608\r\n\r\n"
                      % self.target.port)
            s.sendall(BLOCK[:cuts[i] % len(BLOCK) + 1])
            if i % 2:
                set_rst_on_close(s)
            s.close()

        run_many(mid_response, n)
        run_many(mid_body, n)
        self.check_after("HTTP clients gone mid-response and mid-request-body")

    def test_uploads_to_a_target_that_resets(self):
        def one(i):
            s = tunnel("socks" if i % 2 else "connect", self.ferry, self.resets_up_port)
            start = time.time()
            try:
                for _ in range(64):  # 16 MiB at most; the target resets after 256 KiB
                    s.sendall(BLOCK)
                while s.recv(65536):
                    pass
                return "eof", time.time() - start
            except (ConnectionError, socket.timeout) as e:
                return type(e).__name__, time.time() - start
            finally:
                s.close()

        results = run_many(one, times(60))
        stuck = [r for r in results if r[0] == "timeout"]
        self.assertEqual(stuck, [], "uploads that never learned of the reset")
        self.assertTrue(all(r[0] != "eof" for r in results), "an upload cut by a reset must end in an error")
        self.check_after("uploads to a target that resets")

    def early_closes(self):
        """CONNECT clients closed because the relay refused them after an early reply."""
        return sum(1 for l in self.ferry.agent.lines if "after an early reply; the connection was closed" in l)

    def test_targets_that_reset_mid_download(self):
        def one(i):
            try:
                s = tunnel("socks" if i % 2 else "connect", self.ferry, self.resets_down_port)
            except ConnectionError:
                # The reset can beat the relay's connect callback, which then reports the dial as failed
                # (libuv reads SO_ERROR): an error before any byte, which is fine too.
                return "refused", 0
            got = 0
            try:
                while True:
                    b = s.recv(1 << 20)
                    if not b:
                        return "eof", got
                    got += len(b)
            except (ConnectionError, socket.timeout) as e:
                return type(e).__name__, got
            finally:
                s.close()

        closed_before = self.early_closes()
        results = run_many(one, times(60))
        self.assertTrue(all(kind != "timeout" for kind, _ in results), results)
        # A download cut by the target must not look complete to the client: it ends with a reset.
        # The one exception is the early reply (the target is warm): a CONNECT client told "200" whose
        # dial the reset then failed has its connection closed before any byte, and the log says so.
        eofs = [r for r in results if r[0] == "eof"]
        self.assertTrue(all(got == 0 for _, got in eofs), eofs)
        self.assertLessEqual(len(eofs), self.early_closes() - closed_before, results)
        self.assertTrue(all(got <= 4 * len(BLOCK) for _, got in results))
        self.check_after("targets that reset mid-download")

    def test_agents_killed_mid_download(self):
        """A second agent (same key) downloads and is killed with SIGKILL; the relay carries on, holds the
        killed agent's session for its grace, then closes its targets and gives everything back."""
        for round_ in range(max(2, int(5 * SCALE))):
            other = Daemon([AGENT, "--config", self.ferry.path("agent.toml")])
            try:
                (_, _), (_, socks) = other.listening(2)
                other.wait_for(r"link up")
                streams = []
                for _ in range(4):
                    s = socks5_open(socks, self.source_port)
                    s.sendall(b"0\n")
                    recv_exactly(s, 65536)
                    streams.append(s)
                other.proc.send_signal(signal.SIGKILL)
                other.proc.wait(10)
                for s in streams:
                    s.close()
            finally:
                other.stop()
            self.check_after("agent killed mid-download, round %d" % round_)

    def test_relay_killed_and_restarted_mid_transfer(self):
        """The agent reconnects, its open streams end with an error, and new streams work within 5 s."""
        with open(self.ferry.path("relay.toml")) as f:
            config = f.read()
        fixed = config.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:%d"' % self.ferry.relay_port, 1)
        with open(self.ferry.path("relay.toml"), "w") as f:
            f.write(fixed)
        for round_ in range(max(2, int(3 * SCALE))):
            streams = []
            for i in range(6):
                s = tunnel("socks" if i % 2 else "connect", self.ferry, self.source_port)
                s.sendall(b"0\n")
                recv_exactly(s, 65536)
                streams.append(s)
            self.ferry.relay.proc.send_signal(signal.SIGKILL)
            self.ferry.relay.stop()
            for s in streams:  # each open stream ends (reset) within 15 s: none hangs
                s.settimeout(15)
                start = time.time()
                try:
                    while s.recv(1 << 20):
                        pass
                except ConnectionError:
                    pass
                self.assertLess(time.time() - start, 15)
                s.close()
            self.ferry.relay = Daemon([RELAY, "--config", self.ferry.path("relay.toml")])
            self.ferry.relay.listening(1)
            started = time.time()
            type(self).admin_port = int(self.ferry.relay.wait_for(r"admin listening on \S+:(\d+)").group(1))

            def echoes():
                try:
                    return echo_works(self.ferry, self.echo_port)
                except (ConnectionError, OSError):
                    return None
            wait_until(echoes, 5, "a new stream echoes within 5 s of the relay's restart")
            print("relay restart %d: new stream echoed %.2f s after the relay listened" % (round_, time.time() - started),
                  file=sys.stderr)
            # A new relay process: its own idle figures and its own counters.
            type(self).settle_baseline(type(self))
            self.check_after("relay killed and restarted, round %d" % round_)

    def test_peer_vanishes_at_each_step(self):
        """A client closes (FIN, or RST) at each step of each front end; a peer vanishes mid-link-handshake."""
        p = self.echo_port.to_bytes(2, "big")
        name = b"127.0.0.1"
        s5_request = b"\x05\x01\x00\x03" + bytes([len(name)]) + name + p
        steps = {
            "before the greeting": (self.ferry.socks_port, b""),
            "socks5 mid-greeting": (self.ferry.socks_port, b"\x05\x02"),
            "socks5 after the greeting": (self.ferry.socks_port, b"\x05\x01\x00"),
            "socks5 mid-request": (self.ferry.socks_port, b"\x05\x01\x00" + s5_request[:6]),
            "socks5 after the request": (self.ferry.socks_port, b"\x05\x01\x00" + s5_request),
            "socks5 mid-data": (self.ferry.socks_port, b"\x05\x01\x00" + s5_request + b"half a message"),
            "socks4 mid-request": (self.ferry.socks_port, b"\x04\x01" + p + b"\x00\x00"),
            "socks4a after the request": (self.ferry.socks_port, b"\x04\x01" + p + b"\x00\x00\x00\x01\x00" + name + b"\x00"),
            "http mid-header": (self.ferry.http_port, b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHo" % self.echo_port),
            "http after the CONNECT head": (self.ferry.http_port, b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % self.echo_port),
            "http mid-body": (self.ferry.http_port, b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: h\r\n"
                              b"Content-Length: 100\r\n\r\nten bytes." % self.target.port),
            "http after the request": (self.ferry.http_port, b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: h\r\n\r\n"
                                       % self.target.port),
        }
        for step, (port, data) in steps.items():
            def one(i, port=port, data=data):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                if data:
                    s.sendall(data)
                if i % 2:
                    set_rst_on_close(s)
                time.sleep(0.01 * (i % 4))  # vanish at once, or after the agent's answer is on its way
                s.close()
            run_many(one, times(20), workers=8)
            self.assertIsNone(self.ferry.agent.proc.poll(), "the agent died at step: " + step)
        # The link: a peer that vanishes during the Noise handshake, from sources other than the agent's
        # own (the relay's per-source rate limit must not lock the agent out meanwhile).
        for i, cut in enumerate((0, 1, 10, 60, 95, 200)):
            for rst in (False, True):
                s = socket.socket()
                s.bind(("127.0.0.%d" % (2 + i), 0))
                s.connect(("127.0.0.1", self.ferry.relay_port))
                if cut:
                    s.sendall(os.urandom(cut))
                if rst:
                    set_rst_on_close(s)
                s.close()
        self.check_after("peer vanishes at each step")


class AgentDrain(unittest.TestCase):
    """SIGTERM/SIGINT on the agent: stop taking new streams at once, let open ones finish, exit 0."""

    def setUp(self):
        self.echo = serve(Echo)
        self.echo_port = self.echo.server_address[1]
        self.accepted = 0

    def tearDown(self):
        self.echo.shutdown()
        self.echo.server_close()

    def start(self, agent_extra=""):
        ferry = Ferry(["allow 127.0.0.1:%d" % self.echo_port], agent_extra=agent_extra)
        self.addCleanup(ferry.close)
        return ferry

    def test_open_stream_finishes_new_ones_are_refused_exit_0(self):
        ferry = self.start()
        s = socks5_open(ferry.socks_port, self.echo_port)
        c = http_connect(ferry.http_port, self.echo_port)
        s.sendall(b"before")
        self.assertEqual(recv_exactly(s, 6), b"before")
        ferry.agent.proc.send_signal(signal.SIGTERM)
        ferry.agent.wait_for(r"draining: \d+ open streams")
        time.sleep(0.3)
        for t in (s, c):  # still working 0.3 s later
            t.sendall(b"during the drain")
            self.assertEqual(recv_exactly(t, 16), b"during the drain")
        text, js = ferry.agent_status()
        self.assertEqual(js["agent"], "draining")
        self.assertTrue(text["agent"].startswith("draining"), text)
        time.sleep(2.7)  # 3 s after the signal: new requests are refused, on every front end
        with self.assertRaisesRegex(ConnectionError, "SOCKS5 reply 0x01"):
            socks5_open(ferry.socks_port, self.echo_port)
        with self.assertRaisesRegex(ConnectionError, "503"):
            http_connect(ferry.http_port, self.echo_port)
        rc, body, _ = curl("-x", "http://127.0.0.1:%d" % ferry.http_port, "http://127.0.0.1:%d/" % self.echo_port)
        self.assertIn(b"shutting down", body)
        audit_before = ferry.audit().count("\n")
        self.assertIsNone(ferry.agent.proc.poll(), "the agent left while streams were open")
        s.sendall(b"last words")  # still served, and ends cleanly both ways
        self.assertEqual(recv_exactly(s, 10), b"last words")
        s.close()
        c.close()
        start = time.time()
        self.assertEqual(ferry.agent.proc.wait(10), 0)
        self.assertLess(time.time() - start, 5, "the agent should exit once its streams have ended")
        ferry.agent.wait_for(r"drained: every stream has ended")
        # The refused requests never reached the relay: only the two drained streams add audit lines.
        wait_until(lambda: ferry.audit().count("\n") >= audit_before + 2 or None, 10, "audit lines of the drained streams")
        self.assertEqual(ferry.audit().count("\n"), audit_before + 2)

    def test_drain_time_runs_out(self):
        ferry = self.start(agent_extra="")
        with open(ferry.path("agent.toml")) as f:
            text = f.read()
        ferry.agent.stop()  # restart it with a 2 s drain
        ferry.write("agent.toml", "drain_timeout_s = 2\n" + text)
        ferry.agent = Daemon([AGENT, "--config", ferry.path("agent.toml")])
        (_, ferry.http_port), (_, ferry.socks_port) = ferry.agent.listening(2)
        ferry.agent.wait_for(r"link up")
        s = socks5_open(ferry.socks_port, self.echo_port)
        start = time.time()
        ferry.agent.proc.send_signal(signal.SIGINT)
        self.assertEqual(ferry.agent.proc.wait(10), 0)
        self.assertGreater(time.time() - start, 1.5)
        self.assertLess(time.time() - start, 5)
        ferry.agent.wait_for(r"drain time is up: closing")
        s.settimeout(5)
        with self.assertRaises((ConnectionError, AssertionError)):  # the stream was cut, not left hanging
            if s.recv(100) == b"":
                raise AssertionError("closed")
        s.close()

    def test_second_signal_exits_at_once(self):
        ferry = self.start()
        s = socks5_open(ferry.socks_port, self.echo_port)
        ferry.agent.proc.send_signal(signal.SIGTERM)
        ferry.agent.wait_for(r"draining")
        start = time.time()
        ferry.agent.proc.send_signal(signal.SIGTERM)
        self.assertEqual(ferry.agent.proc.wait(10), 0)
        self.assertLess(time.time() - start, 2)
        ferry.agent.wait_for(r"second signal: closing")
        s.close()

    def test_idle_agent_exits_at_once_and_idle_keepalive_does_not_hold_it(self):
        ferry = self.start()
        idle = socket.create_connection(("127.0.0.1", ferry.http_port))  # said nothing yet
        start = time.time()
        ferry.agent.proc.send_signal(signal.SIGTERM)
        self.assertEqual(ferry.agent.proc.wait(10), 0)
        self.assertLess(time.time() - start, 2)
        idle.close()

    def test_client_vanishes_mid_drain(self):
        ferry = self.start()
        s = socks5_open(ferry.socks_port, self.echo_port)
        ferry.agent.proc.send_signal(signal.SIGTERM)
        ferry.agent.wait_for(r"draining")
        set_rst_on_close(s)
        s.close()
        start = time.time()
        self.assertEqual(ferry.agent.proc.wait(10), 0)
        self.assertLess(time.time() - start, 3)


class RelayDrain(unittest.TestCase):
    """SIGTERM on the relay: a stream whose client half-closes after the GOAWAY still gets its answer and
    the FIN (docs/protocol.md 5.3: the link stays until every stream has ended both ways)."""

    def test_nc_half_close_during_the_relay_drain_gets_its_answer(self):
        server = serve(AnswersAtEof)
        self.addCleanup(lambda: (server.shutdown(), server.server_close()))
        port = server.server_address[1]
        ferry = Ferry(["allow 127.0.0.1:%d" % port])
        self.addCleanup(ferry.close)
        for attempt in range(3):  # three streams, one after the other, on three relays
            if attempt:
                ferry.close()
                ferry = Ferry(["allow 127.0.0.1:%d" % port])
                self.addCleanup(ferry.close)
            nc = subprocess.Popen(["nc", "-N", "-X", "5", "-x", "127.0.0.1:%d" % ferry.socks_port, "127.0.0.1", str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # The stream is open once the relay's dial is counted; then the relay drains.
            wait_until(lambda: "connected from" in "\n".join(ferry.relay.lines) or None, 10, "link up")
            nc.stdin.write(b"first part, ")
            nc.stdin.flush()
            time.sleep(0.3)  # the stream is open and piping
            ferry.relay.proc.send_signal(signal.SIGTERM)
            ferry.relay.wait_for(r"draining")
            ferry.agent.wait_for(r"the relay is draining")
            # communicate() writes the last words, then closes stdin: nc -N then shuts its socket down
            # (the FIN after the last words).
            out, err = nc.communicate(input=b"last words", timeout=15)
            self.assertEqual(out, b"answer to: first part, last words", err)
            self.assertEqual(nc.returncode, 0, err)
            self.assertEqual(ferry.relay.proc.wait(15), 0)
            self.assertIn('"result":"connected"', ferry.audit())


if __name__ == "__main__":
    unittest.main()
