"""The agent's pool of links ([relay] links, default 2) end to end: every link comes up, one at a
time, with no handshake refused as a replay, each on its own relay worker; a stream opened beside a download rides the other
link; `links = 1` keeps one; links come back after the relay revokes and readmits the agent.
Run: python3 -m unittest tests/e2e/test_pool.py
"""
import json
import os
import re
import signal
import socketserver
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import Echo, serve  # noqa: E402,F401 (test_preauth imports them from here)
from fault_kit import http_connect as tunnel  # noqa: E402
from harness import AGENT, Daemon, Ferry, curl  # noqa: E402


class Source(socketserver.BaseRequestHandler):
    """Sends a counting pattern until the client goes away: a download that lasts as long as the test."""
    block = bytes(range(256)) * 256

    def handle(self):
        try:
            while True:
                self.request.sendall(Source.block)
        except OSError:
            return


def stop(server):
    server.shutdown()
    server.server_close()


def echo_once(s, payload):
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        b = s.recv(65536)
        if not b:
            break
        got += b
    return got


class Pool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = serve(Echo)
        cls.source = serve(Source)
        ports = (cls.echo.server_address[1], cls.source.server_address[1])
        cls.ferry = Ferry(["allow 127.0.0.1:%d" % p for p in ports],
                          relay_extra='admin_listen = "127.0.0.1:0"\nworkers = 2\n')

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        stop(cls.echo)
        stop(cls.source)

    def status(self):
        rc, body, err = curl("http://127.0.0.1:%d/status" % self.ferry.http_port)
        self.assertEqual(rc, 0, err)
        return json.loads(body)

    def metrics(self):
        admin = self.ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        rc, body, err = curl("http://%s/metrics" % admin)
        self.assertEqual(rc, 0, err)
        return body.decode()

    def test_1_both_links_come_up_one_after_the_other(self):
        s = self.status()
        self.assertEqual((s["link"], s["links_up"], len(s["links"])), ("up", 2, 2), s)
        self.assertEqual([l["state"] for l in s["links"]], ["up", "up"])
        self.assertEqual(len([l for l in self.ferry.relay.lines if re.search(r'agent "e2e" connected from', l)]), 2,
                         "\n".join(self.ferry.relay.lines))
        text = self.metrics()
        self.assertIn("ferry_links 2\n", text)
        # Both links under the cipher the agent logged (the secondary follows the primary's).
        suite = re.search(r"link up to \S+ \(([^,)]+)", "\n".join(self.ferry.agent.lines)).group(1)
        other = {"aes-256-gcm": "chacha20-poly1305", "chacha20-poly1305": "aes-256-gcm"}[suite]
        self.assertIn('ferry_links_by_cipher{cipher="%s"} 2\n' % suite, text)
        self.assertIn('ferry_links_by_cipher{cipher="%s"} 0\n' % other, text)
        self.assertIn('ferry_handshake_failures_total{reason="replay"} 0\n', text)
        # The relay put the two links on its two workers (the kernel alone shares one half the time).
        self.assertIn('ferry_worker_links{worker="0"} 1\n', text)
        self.assertIn('ferry_worker_links{worker="1"} 1\n', text)
        # The second link's handshake started after the first one's had finished.
        agent = self.ferry.agent.lines
        first = next(i for i, l in enumerate(agent) if re.search(r"link up to ", l))
        second = next(i for i, l in enumerate(agent) if re.search(r"link 2 of 2 up to ", l))
        self.assertLess(first, second)
        text, _ = self.ferry.agent_status()
        self.assertEqual(text["links up"], "2 of 2", text)

    def test_2_a_stream_opened_beside_a_download_rides_the_other_link(self):
        echo_port, source_port = self.echo.server_address[1], self.source.server_address[1]
        with tunnel(self.ferry.http_port, echo_port) as interactive:  # both links idle: the first link
            with tunnel(self.ferry.http_port, source_port) as download:  # fewer streams: the second
                got = 0
                while got < 16 << 20:  # 16 MiB: the download's link is now the busy one
                    b = download.recv(1 << 20)
                    self.assertTrue(b, "the download ended early")
                    got += len(b)
                with tunnel(self.ferry.http_port, echo_port) as late:  # opened while the download runs
                    self.assertEqual(echo_once(late, b"keystroke" * 7), b"keystroke" * 7)
                    self.assertEqual(echo_once(interactive, b"x" * 100), b"x" * 100)
                    links = self.status()["links"]
                    busy = max(range(2), key=lambda i: links[i]["bytes_received"])
                    quiet = 1 - busy
                    self.assertGreater(links[busy]["bytes_received"], 16 << 20, links)
                    self.assertLess(links[quiet]["bytes_received"], 1 << 20, links)
                    # The download alone on its link; the two interactive streams together on the other.
                    self.assertEqual((links[busy]["streams"], links[quiet]["streams"]), (1, 2), links)

    def test_3_links_come_back_after_a_revoke_and_readmit(self):
        relay_toml = self.ferry.path("relay.toml")
        with open(relay_toml) as f:
            original = f.read()
        try:
            with open(relay_toml, "w") as f:
                f.write(original.split("[[agents]]")[0])
            self.ferry.relay.proc.send_signal(signal.SIGHUP)
            self.ferry.relay.wait_for(r"reloaded: 0 agents, 1 revoked")
            self.ferry.agent.wait_for(r"link down: closed: the peer revoked this key")
        finally:
            with open(relay_toml, "w") as f:
                f.write(original)
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        self.ferry.relay.wait_for(r"reloaded: 1 agents, 0 revoked")
        deadline = time.time() + 60  # the reconnect backoff grew while the key was refused
        while time.time() < deadline and self.status()["links_up"] < 2:
            time.sleep(0.5)
        s = self.status()
        self.assertEqual(s["links_up"], 2, s)
        text = self.metrics()
        self.assertIn('ferry_handshake_failures_total{reason="replay"} 0\n', text)
        # The revoked links were counted off (in all, by cipher, by worker), and the new ones spread again.
        self.assertIn("ferry_links 2\n", text)
        by_cipher = [int(n) for n in re.findall(r"^ferry_links_by_cipher\{[^}]*\} (\d+)$", text, re.M)]
        self.assertEqual(sum(by_cipher), 2, text)
        self.assertIn('ferry_worker_links{worker="0"} 1\n', text)
        self.assertIn('ferry_worker_links{worker="1"} 1\n', text)
        with tunnel(self.ferry.http_port, self.echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"back"), b"back")


class Placement(unittest.TestCase):
    def test_four_links_on_four_workers(self):
        """The kernel's hash alone puts four links on four workers one time in ten; placement always."""
        echo = serve(Echo)
        self.addCleanup(stop, echo)
        ferry = Ferry(["allow 127.0.0.1:%d" % echo.server_address[1]], agent_relay_extra="links = 4\n",
                      relay_extra='admin_listen = "127.0.0.1:0"\nworkers = 4\n')
        self.addCleanup(ferry.close)
        admin = ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        rc, body, err = curl("http://%s/metrics" % admin)
        self.assertEqual(rc, 0, err)
        for worker in range(4):
            self.assertIn('ferry_worker_links{worker="%d"} 1\n' % worker, body.decode())
        # Each link carries streams from its own worker thread.
        for i in range(8):
            with tunnel(ferry.http_port, echo.server_address[1]) as t:
                self.assertEqual(echo_once(t, b"stream %d" % i), b"stream %d" % i)
        links = json.loads(curl("http://127.0.0.1:%d/status" % ferry.http_port)[1])["links"]
        self.assertEqual([l["state"] for l in links], ["up"] * 4, links)


class NinthLink(unittest.TestCase):
    def test_a_ninth_link_of_one_key_is_refused_with_its_own_code_and_not_retried_in_a_loop(self):
        """The relay admits 8 links per agent key. Three agents share one key with 4 links each: the
        links past 8 get CLOSE Limit, which the agent names (another agent with this key?) once, and it
        waits the longest backoff before trying again instead of looping."""
        echo = serve(Echo)
        self.addCleanup(stop, echo)
        ferry = Ferry(["allow 127.0.0.1:%d" % echo.server_address[1]], agent_relay_extra="links = 4\n",
                      relay_extra='admin_listen = "127.0.0.1:0"\n')
        self.addCleanup(ferry.close)
        others = []
        for n in range(2):
            with open(ferry.path("agent.toml")) as f:
                ferry.write("agent%d.toml" % n, f.read())
            others.append(Daemon([AGENT, "--config", ferry.path("agent%d.toml" % n)]))
            self.addCleanup(others[-1].stop)
        deadline = time.time() + 20  # 12 links for 8 places: some agent's links are refused
        while not any("already holds as many links" in l for d in others for l in d.lines):
            self.assertLess(time.time(), deadline, "no link was refused")
            time.sleep(0.05)
        time.sleep(3)  # no retry loop meanwhile: the next try waits the longest backoff (15-45 s)
        for d in [ferry.agent] + others:  # each refused link said so once, and tried once
            said = [re.search(r"agent: (link \d of \d|)", l).group(1) for l in d.lines if "retrying every 30 s" in l]
            downs = [l for l in d.lines if "down: too many links" in l]
            self.assertEqual(len(said), len(set(said)), "\n".join(d.lines))
            self.assertEqual(len(downs), len(said), "\n".join(d.lines))
        self.assertGreaterEqual(sum("retrying every 30 s" in l for d in others for l in d.lines), 1)
        admin = ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        rc, body, err = curl("http://%s/metrics" % admin)
        self.assertIn("ferry_links 8\n", body.decode())
        # Streams of the agents that are up still work.
        with tunnel(ferry.http_port, echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"still fine"), b"still fine")


class OneLink(unittest.TestCase):
    def test_links_1_keeps_one_link(self):
        echo = serve(Echo)
        self.addCleanup(stop, echo)  # also when Ferry() fails
        ferry = Ferry(["allow 127.0.0.1:%d" % echo.server_address[1]], agent_relay_extra="links = 1\n")
        self.addCleanup(ferry.close)
        with tunnel(ferry.http_port, echo.server_address[1]) as t:
            self.assertEqual(echo_once(t, b"one"), b"one")
        rc, body, err = curl("http://127.0.0.1:%d/status" % ferry.http_port)
        s = json.loads(body)
        self.assertEqual((s["links_up"], len(s["links"])), (1, 1), s)
        self.assertFalse([l for l in ferry.agent.lines if re.search(r"link \d of", l)], "\n".join(ferry.agent.lines))

    def test_links_out_of_range_is_a_config_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "agent.toml")
            for value in ("0", "9", '"two"'):
                with open(path, "w") as f:
                    f.write('[relay]\naddress = "127.0.0.1:7443"\npublic_key = "%s"\nlinks = %s\n[socks]\n'
                            % ("A" * 43 + "=", value))
                out = subprocess.run([AGENT, "check", "--config", path], capture_output=True, text=True, timeout=20)
                self.assertEqual(out.returncode, 2, out.stdout)
                self.assertIn("agent.toml:4: relay.links: must be", out.stderr)


if __name__ == "__main__":
    unittest.main()
