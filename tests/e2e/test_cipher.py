"""The link cipher end to end: what `auto` picks on this CPU, a relay that takes ChaCha20-Poly1305
only (the agent falls back and says so), a forced AES-256-GCM that the relay never answers (clients
get a clean failure), a forced ChaCha20-Poly1305, the way back to AES-256-GCM, and bad values in
either config. Run: python3 -m unittest tests/e2e/test_cipher.py
"""
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon, Ferry, Target, TargetHandler, curl  # noqa: E402

AES = "aes-256-gcm"
CHACHA = "chacha20-poly1305"
CHACHA_ONLY = 'link_ciphers = ["%s"]\n' % CHACHA
FALLBACK = "the relay did not complete an AES-256-GCM handshake; offering ChaCha20-Poly1305 next"
REFUSED = (r"handshake from 127\.0\.0\.1:\d+ refused: "
           r"decrypt failed: message 1 does not decrypt \(a wrong relay key, or a cipher not in link_ciphers\)")


def cpu_has_aes():
    """What ferry's own check finds (x86-64: the aes and pclmulqdq flags; AArch64: aes and pmull)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return False
    m = re.search(r"^(?:flags|Features)\s*:(.*)$", text, re.M)
    flags = set(m.group(1).split()) if m else set()
    if platform.machine() in ("x86_64", "AMD64"):
        return {"aes", "pclmulqdq"} <= flags
    if platform.machine() in ("aarch64", "arm64"):
        return {"aes", "pmull"} <= flags
    return False


HAS_AES = cpu_has_aes()
AUTO = AES if HAS_AES else CHACHA  # what an auto agent and a default relay agree on here


def log_time(line):
    """The timestamp that starts every ferry log line, in seconds."""
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def index_of(lines, pattern):
    rx = re.compile(pattern)
    return next((i for i, l in enumerate(lines) if rx.search(l)), None)


def count(lines, pattern):
    rx = re.compile(pattern)
    return sum(1 for l in lines if rx.search(l))


class Cipher(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        TargetHandler.big = os.urandom(6 << 20)
        cls.big_sha = hashlib.sha256(TargetHandler.big).hexdigest()
        cls.target = Target()

    @classmethod
    def tearDownClass(cls):
        cls.target.close()

    def start(self, **kw):
        ferry = Ferry(["allow 127.0.0.1:%d" % self.target.port], **kw)
        self.addCleanup(ferry.close)
        return ferry

    def link_up(self, ferry, nth=0, timeout=10.0):
        """The cipher of the agent's nth "link up" line, which the relay's "connected" line must name too."""
        agent_rx = re.compile(r"link up to 127\.0\.0\.1:%d \(([^,)]+)" % ferry.relay_port)
        deadline = time.time() + timeout
        while count(ferry.agent.lines, agent_rx) <= nth and time.time() < deadline:
            time.sleep(0.02)
        ups = [m.group(1) for m in map(agent_rx.search, list(ferry.agent.lines)) if m]
        self.assertGreater(len(ups), nth, "\n".join(ferry.agent.lines))
        relay = ferry.relay.wait_for(r'agent "e2e" connected from 127\.0\.0\.1:\d+ \(([^,)]+)', timeout).group(1)
        self.assertEqual(ups[nth], relay)
        return ups[nth]

    def assert_status_up(self, ferry, cipher):
        text, js = ferry.agent_status()
        self.assertEqual((text["link"], text["cipher"], text["last error"]), ("up", cipher, "-"), text)
        self.assertEqual((js["link"], js["cipher"], js["last_error"]), ("up", cipher, None), js)
        self.assertEqual(js["relay"], "127.0.0.1:%d" % ferry.relay_port)

    def assert_transfer(self, ferry):
        """A multi-megabyte body through each agent port, byte for byte."""
        for proxy in ("http://127.0.0.1:%d" % ferry.http_port, "socks5h://127.0.0.1:%d" % ferry.socks_port):
            with self.subTest(proxy=proxy):
                rc, body, err = curl("-x", proxy, "http://127.0.0.1:%d/big" % self.target.port)
                self.assertEqual(rc, 0, err)
                self.assertEqual(len(body), len(TargetHandler.big))
                self.assertEqual(hashlib.sha256(body).hexdigest(), self.big_sha)

    def test_default_configs_use_aes_where_the_cpu_has_it(self):
        f = self.start()
        self.assertEqual(self.link_up(f), AUTO)
        start = f.relay.wait_for(r"workers, link ciphers (.*)$").group(1)
        self.assertEqual(start, "%s, %s" % (CHACHA, AES) if HAS_AES else CHACHA)
        self.assert_status_up(f, AUTO)
        self.assert_transfer(f)
        self.assertEqual(count(f.agent.lines, "link up"), 1, "\n".join(f.agent.lines))  # one link, no retry
        self.assertIsNone(index_of(f.agent.lines, FALLBACK))
        self.assertIsNone(index_of(f.relay.lines, "refused"))

    def test_chacha_only_relay_and_an_auto_agent(self):
        f = self.start(relay_extra=CHACHA_ONLY)
        self.assertEqual(self.link_up(f), CHACHA)
        self.assertEqual(f.relay.wait_for(r"workers, link ciphers (.*)$").group(1), CHACHA)
        agent, relay = list(f.agent.lines), list(f.relay.lines)
        up = index_of(agent, "link up")
        if HAS_AES:
            # One AES-256-GCM attempt, refused without a reply; the agent says so, then comes up on ChaCha.
            fallback = index_of(agent, FALLBACK)
            self.assertIsNotNone(fallback, "\n".join(agent))
            self.assertLess(fallback, up)
            self.assertEqual(count(agent, FALLBACK), 1)
            self.assertEqual(count(relay, REFUSED), 1, "\n".join(relay))
            self.assertLess(index_of(relay, REFUSED), index_of(relay, "connected from"))
            # The retry waits the first backoff step (250 ms, jittered x0.5 to x1.5), not longer.
            gap = log_time(agent[up]) - log_time(agent[fallback])
            self.assertGreaterEqual(gap, 0.1, "\n".join(agent))
            self.assertLess(gap, 5.0, "\n".join(agent))  # a connect and a handshake under ASan, on 2 busy cores
        else:
            self.assertIsNone(index_of(agent, FALLBACK))   # nothing to fall back from
            self.assertIsNone(index_of(relay, "refused"))
        self.assert_status_up(f, CHACHA)
        self.assert_transfer(f)

    def test_forced_aes_against_a_chacha_only_relay_never_comes_up(self):
        f = self.start(relay_extra=CHACHA_ONLY, agent_relay_extra='cipher = "%s"\n' % AES, wait_link=False)
        # The agent keeps offering AES-256-GCM (first retry 125-375 ms, then 250-750 ms): two refusals.
        deadline = time.time() + 5
        while count(f.relay.lines, REFUSED) < 2 and time.time() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(count(f.relay.lines, REFUSED), 2, "\n".join(f.relay.lines))
        text, js = f.agent_status()
        self.assertNotEqual(text["link"], "up", text)
        self.assertEqual(text["cipher"], "-")
        self.assertNotEqual(text["last error"], "-")
        self.assertNotEqual(js["link"], "up")
        self.assertIsNone(js["cipher"])
        self.assertTrue(js["last_error"], js)

        # A client waits up to 5 s for the link, then gets a failure: SOCKS5 REP 0x01 and HTTP 502.
        socks = {}

        def socks5():
            t0 = time.time()
            try:
                socks5_exchange()
            except OSError as e:  # a timeout too: reported by the assertions below
                socks["error"] = e
            socks["seconds"] = time.time() - t0

        def socks5_exchange():
            with socket.create_connection(("127.0.0.1", f.socks_port), timeout=10) as s:
                s.sendall(b"\x05\x01\x00")
                socks["greeting"] = s.recv(2)
                s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + self.target.port.to_bytes(2, "big"))
                reply = b""
                while len(reply) < 10:
                    b = s.recv(10 - len(reply))
                    if not b:
                        break
                    reply += b
                socks["reply"] = reply
                socks["eof"] = s.recv(1)  # the agent closes after a failure reply

        th = threading.Thread(target=socks5)
        th.start()
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % f.http_port, "-o", "-", "-w", " %{http_code}",
                             "http://127.0.0.1:%d/hello" % self.target.port, timeout=15)
        th.join(15)
        self.assertFalse(th.is_alive())
        self.assertTrue(body.endswith(b" 502"), body)
        self.assertIn(b"the relay is unreachable", body)
        self.assertNotIn(b"hello from the target", body)
        self.assertNotIn("error", socks, socks)
        self.assertEqual(socks["greeting"], b"\x05\x00")
        self.assertEqual(socks["reply"][:2], b"\x05\x01", socks)  # general failure
        self.assertEqual(socks["eof"], b"")
        self.assertLess(socks["seconds"], 15.0)  # the agent waits 5 s; the rest is room for a busy machine
        # By now the agent has tried for over 5 s, on AES-256-GCM only, and never come up.
        self.assertIsNone(index_of(f.agent.lines, "link up"), "\n".join(f.agent.lines))
        self.assertIsNone(index_of(f.agent.lines, FALLBACK))
        # One hint, however many attempts, naming the setting on each side.
        self.assertEqual(count(f.agent.lines, re.escape('which agent.toml requires (cipher = "aes-256-gcm"); if it '
                                                        "persists, check the relay's link_ciphers")), 1,
                         "\n".join(f.agent.lines))
        self.assertIsNone(index_of(f.relay.lines, "connected from"))
        self.assertGreaterEqual(count(f.relay.lines, REFUSED), 3, "\n".join(f.relay.lines))
        f.agent.wait_for(r"socks5: 127\.0\.0\.1:%d: failure \(the relay is unreachable" % self.target.port, 5)

    def test_forced_chacha_with_a_default_relay(self):
        f = self.start(agent_relay_extra='cipher = "%s"\n' % CHACHA)
        self.assertEqual(self.link_up(f), CHACHA)
        self.assertEqual(count(f.agent.lines, "link up"), 1)
        self.assertIsNone(index_of(f.relay.lines, "refused"))
        self.assert_status_up(f, CHACHA)
        self.assert_transfer(f)

    @unittest.skipUnless(HAS_AES, "this CPU has no AES instructions, so auto never offers AES-256-GCM")
    def test_an_auto_agent_offers_aes_again_once_a_relay_lists_it(self):
        f = self.start(relay_extra=CHACHA_ONLY)
        self.assertEqual(self.link_up(f), CHACHA)
        self.assertEqual(count(f.agent.lines, FALLBACK), 1, "\n".join(f.agent.lines))

        def restart_relay(name):
            """The same relay key and agent on the same port, with the default link_ciphers."""
            f.relay.stop()
            with open(f.path("relay.toml")) as c:
                config = c.read().replace(CHACHA_ONLY, "")
            f.write(name, config.replace('listen = "127.0.0.1:0"\n', 'listen = "127.0.0.1:%d"\n' % f.relay_port))
            f.relay = Daemon([RELAY, "--config", f.path(name)])
            self.assertEqual(f.relay.listening(1)[0][1], f.relay_port)
            self.assertEqual(f.relay.wait_for(r"workers, link ciphers (.*)$").group(1), "%s, %s" % (CHACHA, AES))

        # The relay now takes AES-256-GCM too, but the agent learns that only from this link's message 2:
        # the next link is still ChaCha20-Poly1305, the one after it AES-256-GCM.
        restart_relay("relay-2.toml")
        self.assertEqual(self.link_up(f, nth=1), CHACHA)
        restart_relay("relay-3.toml")
        self.assertEqual(self.link_up(f, nth=2), AES)
        self.assertEqual(count(f.agent.lines, FALLBACK), 1)
        self.assertIsNone(index_of(f.relay.lines, "refused"))
        self.assert_status_up(f, AES)
        self.assert_transfer(f)


class BadValues(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-cipher-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.relay_pub = subprocess.run([RELAY, "keygen", "--out", self.path("relay.key")], check=True,
                                        capture_output=True, text=True).stdout.strip()
        self.agent_pub = subprocess.run([AGENT, "keygen", "--out", self.path("agent.key")], check=True,
                                        capture_output=True, text=True).stdout.strip()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def run_cmd(self, *argv):
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=10)

    def agent_config(self, cipher_line):
        return self.write("agent.toml", 'private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:9"\n'
                          'public_key = "%s"\n%s\n[socks]\nlisten = "127.0.0.1:0"\n' % (self.relay_pub, cipher_line))

    def relay_config(self, ciphers_line):
        return self.write("relay.toml", 'listen = "127.0.0.1:0"\nprivate_key_file = "relay.key"\n%s\n'
                          '[policy]\nrules = ["allow *"]\n[[agents]]\nname = "e2e"\npublic_key = "%s"\n'
                          % (ciphers_line, self.agent_pub))

    def test_agent_cipher(self):
        for line in ('cipher = "rc4"', 'cipher = "AES-256-GCM"', 'cipher = ""'):
            with self.subTest(line=line):
                path = self.agent_config(line)
                for argv in ([AGENT, "check", "--config", path], [AGENT, "--config", path]):
                    out = self.run_cmd(*argv)
                    self.assertEqual(out.returncode, 2, out.stderr)
                    self.assertIn('%s:5: relay.cipher: must be "auto", "aes-256-gcm" or "chacha20-poly1305"' % path,
                                  out.stderr)
                    self.assertNotIn("listening", out.stderr)
        path = self.agent_config("cipher = 256")
        out = self.run_cmd(AGENT, "check", "--config", path)
        self.assertEqual(out.returncode, 2)
        self.assertIn("%s:5: relay.cipher: must be a string" % path, out.stderr)
        for good in ("auto", AES, CHACHA):
            with self.subTest(good=good):
                out = self.run_cmd(AGENT, "check", "--config", self.agent_config('cipher = "%s"' % good))
                self.assertEqual((out.returncode, out.stdout), (0, "%s: OK\n" % self.path("agent.toml")), out.stderr)

    def test_relay_link_ciphers(self):
        cases = [('link_ciphers = ["rc4"]', '"rc4" is not a cipher: use "chacha20-poly1305" and/or "aes-256-gcm"'),
                 ('link_ciphers = ["%s", "rc4"]' % CHACHA, '"rc4" is not a cipher'),
                 ('link_ciphers = []', 'must include "chacha20-poly1305", the cipher every agent speaks'),
                 ('link_ciphers = ["%s"]' % AES, 'must include "chacha20-poly1305"'),
                 ('link_ciphers = ["%s", "%s"]' % (AES, AES), '"aes-256-gcm" is listed twice'),
                 ('link_ciphers = "%s"' % CHACHA, "must be an array of strings")]
        for line, message in cases:
            with self.subTest(line=line):
                path = self.relay_config(line)
                for argv in ([RELAY, "check", "--config", path], [RELAY, "--config", path]):
                    out = self.run_cmd(*argv)
                    self.assertEqual(out.returncode, 2, out.stderr)
                    self.assertIn("%s:3: link_ciphers: %s" % (path, message), out.stderr)
                    self.assertNotIn("listening", out.stderr)
        for good, effective in (([CHACHA], CHACHA), ([AES, CHACHA], "%s, %s" % (CHACHA, AES))):
            with self.subTest(good=good):
                line = "link_ciphers = [%s]" % ", ".join('"%s"' % c for c in good)
                out = self.run_cmd(RELAY, "check", "--config", self.relay_config(line))
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn("OK (1 agents, 1 policy rules, link ciphers %s)" % effective, out.stdout)


if __name__ == "__main__":
    unittest.main()
