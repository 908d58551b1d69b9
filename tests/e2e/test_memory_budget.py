"""One agent's buffered bytes at the relay stay within [limits] max_buffered_mib_per_agent (issue 16,
item 10): 4,096 stalled streams fed by fast sources, half of them uploads to targets that never read,
half downloads from targets that write as fast as they can to clients that never read. The relay's
RSS stays within the budget + 32 MiB, and another agent's requests go through meanwhile.

Without the budget the relay holds each stream's window and send queue: its RSS peaked at 548 MiB
here when this test was written, against 50 MiB with it. The machine holds about 4 GB meanwhile
(the agent's windows and the kernel's socket buffers), so the test is labelled slow and runs alone."""
import os
import re
import socket
import subprocess
import sys
import time
import unittest

from fault_kit import recv_exactly, rss_kib
from harness import AGENT, Daemon, Ferry, Target, curl

# Shortened under ASan, whose memory per stream is several times ours.
STREAMS = 1024 if os.environ.get("FERRY_SANITIZED") == "1" else 4096
# Bytes each source offers: more than the kernel buffers on the way and the agent's window take, so
# the rest waits at the relay (a target's small receive buffer, see SOURCES, keeps it from hiding in
# that socket).
FEED_UP = 1024 * 1024
FEED_DOWN = 1024 * 1024
BUDGET_MIB = 64  # the default
SANITIZED = os.environ.get("FERRY_SANITIZED") == "1"

# Two listening sockets: "sink" accepts and never reads, "source" accepts and writes FEED_DOWN bytes to
# each connection as fast as the kernel takes them. Its own process, so the test's client loop and the
# sources do not share one interpreter lock.
SOURCES = r"""
import selectors, socket, sys
feed = int(sys.argv[1])
sel = selectors.DefaultSelector()
sink = socket.socket()
source = socket.socket()
# Small kernel buffers (accepted sockets inherit them): the bytes in flight are held by the programs,
# which is what the test measures, and the machine is not asked for gigabytes of socket memory.
sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
for l in (sink, source):
    l.bind(("127.0.0.1", 0))
    l.listen(4096)
    l.setblocking(False)
    sel.register(l, selectors.EVENT_READ, "listen")
print(sink.getsockname()[1], source.getsockname()[1], flush=True)
held = []
chunk = b"d" * 65536
while True:
    for key, _ in sel.select(1.0):
        if key.data == "listen":
            try:
                c, _ = key.fileobj.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            held.append(c)
            if key.fileobj is source:
                sel.register(c, selectors.EVENT_WRITE, [feed])
        else:
            left = key.data
            try:
                left[0] -= key.fileobj.send(chunk[:min(len(chunk), left[0])])
            except BlockingIOError:
                continue
            except OSError:
                left[0] = 0
            if left[0] <= 0:
                sel.unregister(key.fileobj)
"""


def socks5_ip(port, target_port):
    """SOCKS5 to 127.0.0.1:target_port by address; the socket once the agent answered."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the clients' kernel buffers small too
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01" + target_port.to_bytes(2, "big"))
    reply = recv_exactly(s, 12)
    if reply[:2] != b"\x05\x00" or reply[3] != 0:
        raise ConnectionError("SOCKS5 reply %r" % reply)
    return s


class MemoryBudget(unittest.TestCase):
    def setUp(self):
        with open("/proc/meminfo") as f:
            available = int(re.search(r"MemAvailable:\s+(\d+)", f.read()).group(1))
        if available < 3 * 2 ** 20:
            self.skipTest("needs 3 GiB of free memory, %d MiB available" % (available >> 10))
        self.sources = subprocess.Popen([sys.executable, "-c", SOURCES, str(FEED_DOWN)], stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.sources.wait, 10)
        self.addCleanup(self.sources.kill)
        self.sink_port, self.source_port = map(int, self.sources.stdout.readline().split())
        self.web = Target()
        self.addCleanup(self.web.close)
        # Streams above the default 4,096: the test opens a few more once the budget is full.
        self.ferry = Ferry(["allow 127.0.0.1"],
                           limits="max_buffered_mib_per_agent = %d\nmax_streams_per_agent = 8192\n" % BUDGET_MIB)
        self.addCleanup(self.ferry.close)

    def second_agent(self):
        """Another enrolled agent, with its own link: the relay is shared, the budget is per agent."""
        f = self.ferry
        pub = f.keygen(AGENT, "bob.key")
        with open(f.path("relay.toml"), "a") as t:
            t.write('[[agents]]\nname = "bob"\npublic_key = "%s"\n' % pub)
        f.relay.proc.send_signal(1)  # SIGHUP: bob is listed now
        f.relay.wait_for(r"reloaded: 2 agents")
        f.write("bob.toml", 'private_key_file = "bob.key"\n[relay]\naddress = "127.0.0.1:%d"\npublic_key = "%s"\n'
                '[http]\nlisten = "127.0.0.1:0"\n' % (f.relay_port, f.relay_pub))
        bob = Daemon([AGENT, "--config", f.path("bob.toml")])
        self.addCleanup(bob.stop)
        (_, port), = bob.listening(1)
        bob.wait_for(r"link up")
        return port

    def test_stalled_streams_stay_within_the_agent_budget(self):
        bob_port = self.second_agent()
        relay_pid, agent_pid = self.ferry.relay.proc.pid, self.ferry.agent.proc.pid
        idle = rss_kib(relay_pid)
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        upload = b"u" * FEED_UP
        started = time.time()
        for i in range(STREAMS):
            if i % 2 == 0:  # an upload to a target that never reads
                c = socks5_ip(self.ferry.socks_port, self.sink_port)
                c.setblocking(False)
                try:
                    c.send(upload)
                except BlockingIOError:
                    pass
            else:  # a download from a fast source, by a client that never reads
                c = socks5_ip(self.ferry.socks_port, self.source_port)
            conns.append(c)
        opened = time.time() - started
        # The uploads go on as the agent takes them. The relay's RSS is sampled until it has not grown
        # for 3 s (without the budget it climbs for tens of seconds), or 60 s.
        sent = [0] * STREAMS
        peak = agent_peak = 0
        last_growth = time.time()
        deadline = time.time() + 60
        while time.time() < deadline and time.time() - last_growth < 3:
            for i in range(0, STREAMS, 2):
                if sent[i] < FEED_UP:
                    try:
                        sent[i] += conns[i].send(upload[: FEED_UP - sent[i]])
                    except BlockingIOError:
                        pass
            now = rss_kib(relay_pid)
            if now > peak + 1024:
                last_growth = time.time()
            peak = max(peak, now)
            agent_peak = max(agent_peak, rss_kib(agent_pid))
            time.sleep(0.2)
        # The downloads' queues now hold most of the budget: a few more streams still open (the target
        # connects), but with no credit until bytes come back, and the relay says so once per link.
        for _ in range(8):
            conns.append(socks5_ip(self.ferry.socks_port, self.sink_port))
        # Bob's request: not his budget, not his problem.
        t0 = time.time()
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % bob_port, "http://127.0.0.1:%d/hello" % self.web.port, timeout=15)
        bob_s = time.time() - t0
        peak = max(peak, rss_kib(relay_pid))
        print("\nmemory budget: %d streams opened in %.1f s, relay RSS %.1f MiB idle, peak %.1f MiB (budget %d MiB), agent's peak %.1f MiB; "
              "%.1f MiB of uploads taken; bob's request %.2f s"
              % (STREAMS, opened, idle / 1024, peak / 1024, BUDGET_MIB, agent_peak / 1024, sum(sent) / 2 ** 20, bob_s), file=sys.stderr)
        self.assertEqual(rc, 0, err)
        self.assertEqual(body, b"hello from the target at /hello")
        self.assertLess(bob_s, 5.0)
        self.assertIsNone(self.ferry.relay.proc.poll(), "the relay died")
        self.assertIsNone(self.ferry.agent.proc.poll(), "the agent died")
        if not SANITIZED:  # ASan's shadow memory and quarantine are not the relay's
            self.assertLess(peak, (BUDGET_MIB + 32) * 1024, "relay RSS above the budget + 32 MiB")
        # Every stream was accepted: the budget makes streams wait for credit, it does not refuse them.
        self.assertNotIn('"result":"limit reached"', self.ferry.audit())
        waits = [l for l in self.ferry.relay.lines if "new streams wait for credit" in l]
        print("relay: %d line(s) about streams waiting for credit" % len(waits), file=sys.stderr)
        self.assertLessEqual(len(waits), self.ferry.links, waits)  # once per link at most
        if not SANITIZED:
            # At full size the downloads' queues hold more than seven eighths of the budget by now.
            # ASan's shortened run (a quarter of the streams, each slower) need not get there, and
            # buffer_budget_test covers the credit-starved start exactly.
            self.assertGreaterEqual(len(waits), 1, "no stream waited for credit: the budget never filled")


if __name__ == "__main__":
    unittest.main()
