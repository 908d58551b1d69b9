"""Stream resumption on loopback (docs/protocol.md 4.13): the agent's links are cut under open streams
again and again, and the streams carry on with no byte lost, repeated or reordered.

A cut is `ss -K` on the link's TCP sockets (the kernel aborts them; needs root, which CI has): on the
agent's side, the agent sees ECONNABORTED and resumes at once, while the relay still thinks the old
link alive, so the resume replaces it; on the relay's side, the relay sees the link lost and holds
the session, and the agent, reset, resumes it. The relay runs two workers, so resumes land on the
worker that does not hold the session, and the connection moves. A rate-limited 64 MiB download
(checked by sha256) and a stream echoing a running counter run through every cut.
Run: python3 -m unittest tests/e2e/test_resume.py
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import metrics, socks5_open  # noqa: E402
from harness import Ferry, Target, TargetHandler  # noqa: E402

BIG = hashlib.sha256(b"ferry resume").digest() * (2 * 1024 * 1024)  # 64 MiB
UNDISTURBED_S = 64 / 16  # curl --limit-rate 16M


def kill_sockets(port, side):
    """Aborts the link's TCP sockets on one side: "agent" (their peer is the relay's port) or "relay"."""
    flt = ["dport", "=", ":%d" % port] if side == "agent" else ["sport", "=", ":%d" % port]
    p = subprocess.run(["ss", "-K", "-t", "state", "established"] + flt, capture_output=True, text=True)
    return p.returncode == 0 and p.stdout.count("\n") > 1


class LineEcho(threading.Thread):
    """A server echoing each line, in a thread."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        with c, c.makefile("rb") as f:
            for line in f:
                c.sendall(line)


class Counter(threading.Thread):
    """Sends a running counter through the agent's SOCKS port to LineEcho, a line every 20 ms, and checks
    each echo before the next."""

    def __init__(self, socks_port, echo_port):
        super().__init__(daemon=True)
        self.s = socks5_open(socks_port, echo_port)
        self.s.settimeout(30)
        self.n, self.error, self.stop = 0, None, threading.Event()
        self.start()

    def run(self):
        f = self.s.makefile("rb")
        try:
            while not self.stop.is_set():
                self.n += 1
                self.s.sendall(b"%d\n" % self.n)
                line = f.readline()
                if line != b"%d\n" % self.n:
                    self.error = "line %d came back as %r" % (self.n, line)
                    return
                time.sleep(0.02)
        except OSError as e:
            self.error = "line %d: %s" % (self.n, e)


class Resume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("ss"):
            raise unittest.SkipTest("cutting a link with ss -K needs root and iproute2")
        TargetHandler.big = BIG
        cls.target = Target()
        cls.echo = LineEcho()
        cls.ferry = Ferry(["allow 127.0.0.1:%d" % cls.target.port, "allow 127.0.0.1:%d" % cls.echo.port],
                          relay_extra='admin_listen = "127.0.0.1:0"\nworkers = 2\n')
        cls.admin_port = int(cls.ferry.relay.wait_for(r"admin listening on \S+:(\d+)").group(1))
        cls.dir = tempfile.mkdtemp(prefix="ferry-resume-")

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        cls.target.close()
        cls.echo.sock.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def cut_during_transfers(self, side, cuts):
        f = self.ferry
        before = metrics(self.admin_port)
        out = os.path.join(self.dir, "big-%s" % side)
        download = subprocess.Popen(["curl", "-sS", "--limit-rate", "16M", "--max-time", "120", "-x",
                                     "socks5h://127.0.0.1:%d" % f.socks_port,
                                     "http://127.0.0.1:%d/big" % self.target.port, "-o", out],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        counter = Counter(f.socks_port, self.echo.port)
        started = time.monotonic()
        done = 0
        for _ in range(cuts):
            time.sleep(UNDISTURBED_S / (cuts + 1))
            done += kill_sockets(f.relay_port, side)
        download.wait(timeout=60)
        took = time.monotonic() - started
        counter.stop.set()
        counter.join(timeout=40)
        log = "\n".join(f.agent.lines[-60:]) + "\nrelay:\n" + "\n".join(f.relay.lines[-60:])
        self.assertEqual(download.returncode, 0, download.stderr.read() + log)
        with open(out, "rb") as fh:
            self.assertEqual(hashlib.file_digest(fh, "sha256").digest(), hashlib.sha256(BIG).digest(),
                             "the download is not intact")
        self.assertIsNone(counter.error, log)
        self.assertGreater(counter.n, 50)
        after = metrics(self.admin_port)
        self.assertGreaterEqual(after["ferry_resumes_total"] - before["ferry_resumes_total"], done, log)
        self.assertEqual(after["ferry_sessions_held"], 0)
        print("%s side: %d cuts, download %.1f s (undisturbed %.0f s), %d counter lines, %d bytes resent" %
              (side, done, took, UNDISTURBED_S, counter.n,
               after["ferry_resumed_bytes_total"] - before["ferry_resumed_bytes_total"]), file=sys.stderr)
        counter.s.close()
        return done

    def test_cuts_on_the_agents_side(self):
        self.assertGreater(self.cut_during_transfers("agent", 6), 0)

    def test_cuts_on_the_relays_side(self):
        self.assertGreater(self.cut_during_transfers("relay", 6), 0)

    def test_the_audit_line_counts_a_streams_resumes(self):
        f = self.ferry
        counter = Counter(f.socks_port, self.echo.port)
        time.sleep(0.3)
        self.assertTrue(kill_sockets(f.relay_port, "agent"))
        deadline = time.time() + 10
        while time.time() < deadline and counter.n < 60 and counter.error is None:
            time.sleep(0.05)
        counter.stop.set()
        counter.join(timeout=10)
        self.assertIsNone(counter.error)
        counter.s.close()
        audit = f.path("audit.jsonl")
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(audit) as fh:
                lines = [json.loads(l) for l in fh if '"127.0.0.1:%d"' % self.echo.port in l]
            if lines:
                break
            time.sleep(0.1)
        self.assertTrue(lines)
        self.assertGreaterEqual(lines[-1]["resumes"], 1, lines[-1])
        # The agent's status names each link's session and counts its resumes, with the last reason.
        text, status = f.agent_status()
        self.assertGreaterEqual(status["resumes"], 1)
        resumed = [l for l in status["links"] if l["resumes"] > 0]
        self.assertTrue(resumed, status)
        self.assertRegex(resumed[0]["session"], r"^[0-9a-f]{8}$")
        self.assertTrue(resumed[0]["resumable"])
        self.assertRegex(resumed[0]["last_resume_reason"], r"aborted|truncated|reset")  # what ss -K does
        self.assertRegex(text["link 1"] + text.get("link 2", ""), r"session [0-9a-f]{8}, [1-9]\d* resumes \(last: ")


if __name__ == "__main__":
    unittest.main()
