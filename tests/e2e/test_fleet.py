"""Several relays behind HAProxy (Debian's haproxy, started here) with PROXY protocol v2, in network
namespaces (root only):

    laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target
    agent                  HAProxy 198.18.1.1:7443
                             ├─ relay-a 127.0.0.11:7443 (admin :9443)
                             └─ relay-b 127.0.0.12:7443 (admin :9443)

HAProxy's configuration is the README's ("More than one relay"), verbatim but for its addresses. The
relays trust 127.0.0.1 (HAProxy's address towards them) and share one key. Checked: the audit shows
the agent's real address; a PROXY header from an untrusted address, and a trusted connection without
one, are closed before any cryptography and counted; SIGKILL of a relay: a new request succeeds
within 5 s through the other; SIGTERM during a download: it completes intact within the drain,
/health says 503, and new streams go to the other relay.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon  # noqa: E402
from netns_kit import Network, ns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")
RELAYS = {"relay-a": "127.0.0.11", "relay-b": "127.0.0.12"}

# In the target namespace: GET /whoami answers the caller's address; GET /big/N sends N MiB of a fixed
# pattern, at most 8 MiB/s, so a download spans a relay's drain.
TARGET = textwrap.dedent("""
    import http.server, sys, time
    BLOCK = bytes(range(256)) * 4096
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def do_GET(self):
            if self.path.startswith("/big/"):
                n = int(self.path[5:])
                self.send_response(200)
                self.send_header("Content-Length", str(n * len(BLOCK)))
                self.end_headers()
                for i in range(n):
                    self.wfile.write(BLOCK)
                    time.sleep(1 / 8)
                return
            body = self.client_address[0].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    s = http.server.ThreadingHTTPServer(("198.18.2.2", 80), H)
    s.daemon_threads = True
    print("ready", file=sys.stderr, flush=True)
    s.serve_forever()
""")


def audit_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_audit(path, at_least, timeout=10.0):
    """The audit log's lines once it has `at_least` of them: a relay writes a stream's line when the
    stream has ended, which may be a moment after the client has its answer."""
    deadline = time.time() + timeout
    while True:
        lines = audit_lines(path)
        if len(lines) >= at_least or time.time() > deadline:
            return lines
        time.sleep(0.05)


def readme_haproxy_cfg():
    """The README's HAProxy example, with this test's addresses in place of the example ones."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"## More than one relay\n.*?```\n(# haproxy\.cfg.*?)```", text, re.S)
    assert m, "README: no haproxy.cfg block under 'More than one relay'"
    cfg = m.group(1)
    for old, new in (("203.0.113.10:7443", "198.18.1.1:7443"), ("10.0.0.11:7443", "127.0.0.11:7443"),
                     ("10.0.0.12:7443", "127.0.0.12:7443")):
        assert old in cfg, old
        cfg = cfg.replace(old, new)
    return cfg


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("haproxy"):
            raise unittest.SkipTest("needs Debian's haproxy package")
        cls.net = Network("ffl%d" % os.getpid())
        cls.net.create_laptop()
        cls.daemons = {}
        cls.dir = tempfile.mkdtemp(prefix="ferry-fleet-")
        try:
            cls.net.build()
            d = cls.dir
            cls.relay_pub = subprocess.run([RELAY, "keygen", "--out", d + "/relay.key"], check=True,
                                           capture_output=True, text=True).stdout.strip()
            agent_pub = subprocess.run([AGENT, "keygen", "--out", d + "/agent.key"], check=True,
                                       capture_output=True, text=True).stdout.strip()
            # A second agent with one link: when its relay dies it has no other link to fall back on.
            single_pub = subprocess.run([AGENT, "keygen", "--out", d + "/single.key"], check=True,
                                        capture_output=True, text=True).stdout.strip()
            # One enrolment list and one policy for the fleet, as configuration management would ship them.
            os.mkdir(d + "/agents.d")
            with open(d + "/policy.toml", "w") as f:
                f.write('[policy]\nrules = ["allow 198.18.2.2:80", "deny *"]\n')
            for name, addr in RELAYS.items():
                with open("%s/%s.toml" % (d, name), "w") as f:
                    f.write('listen = "%s:7443"\nadmin_listen = "%s:9443"\nprivate_key_file = "relay.key"\n'
                            'egress_bind = "198.18.2.1"\naudit_log = "%s.audit"\n'
                            'agents_file = "agents.d"\npolicy_file = "policy.toml"\n'
                            '[proxy_protocol]\ntrusted = ["127.0.0.1"]\n' % (addr, addr, name))
            for agent, pub in (("laptop", agent_pub), ("single", single_pub)):
                out = subprocess.run([RELAY, "enroll", "--config", d + "/relay-a.toml", "--name", agent, "--pubkey", pub],
                                     capture_output=True, text=True)
                assert out.returncode == 0, out.stderr
                assert "enrolled \"%s\" in %s/agents.d/%s.toml" % (agent, d, agent) in out.stdout, out.stdout
            with open(d + "/haproxy.cfg", "w") as f:
                f.write(readme_haproxy_cfg())
            check = subprocess.run(ns(cls.net.office, "haproxy", "-c", "-f", d + "/haproxy.cfg"),
                                   capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr
            cls.daemons["target"] = Daemon(ns(cls.net.target, sys.executable, "-c", TARGET))
            cls.daemons["target"].wait_for(r"^ready$")
            for name in RELAYS:
                cls.start_relay(name)
            cls.daemons["haproxy"] = Daemon(ns(cls.net.office, "haproxy", "-db", "-f", d + "/haproxy.cfg"))
            with open(d + "/agent.toml", "w") as f:
                f.write('private_key_file = "agent.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                        '[http]\nlisten = "127.0.0.1:8080"\n' % cls.relay_pub)
            with open(d + "/single.toml", "w") as f:
                f.write('private_key_file = "single.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                        'links = 1\n[http]\nlisten = "127.0.0.1:8081"\n' % cls.relay_pub)
            cls.wait_backends_up()
            cls.daemons["agent"] = Daemon(ns(cls.net.laptop, AGENT, "--config", d + "/agent.toml"))
            cls.daemons["agent"].wait_for(r"link 2 of 2 up", timeout=20)
            cls.daemons["single"] = Daemon(ns(cls.net.laptop, AGENT, "--config", d + "/single.toml"))
            cls.daemons["single"].wait_for(r"link up", timeout=20)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", {}).values():
            daemon.stop(timeout=10)
        cls.net.delete()
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    @classmethod
    def start_relay(cls, name):
        relay = Daemon(ns(cls.net.office, RELAY, "--config", "%s/%s.toml" % (cls.dir, name)))
        relay.wait_for(r"^.*listening on %s:7443" % re.escape(RELAYS[name]))
        cls.daemons[name] = relay

    @classmethod
    def office_get(cls, url):
        p = subprocess.run(ns(cls.net.office, "curl", "-sS", "-i", "--max-time", "5", url), capture_output=True,
                           text=True, timeout=15)
        return p.stdout

    @classmethod
    def wait_backends_up(cls, timeout=15):
        """Until HAProxy passes connections on: a link through it comes up (its checks run every 1 s)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(cls.office_get("http://%s:9443/health" % a).startswith("HTTP/1.1 200") for a in RELAYS.values()):
                time.sleep(2.5)  # rise 2 at inter 1s
                return
            time.sleep(0.2)
        raise AssertionError("relays not healthy")

    def metric(self, relay, reason):
        text = self.office_get("http://%s:9443/metrics" % RELAYS[relay])
        m = re.search(r'ferry_handshake_failures_total\{reason="%s"\} (\d+)' % reason, text)
        return int(m.group(1)) if m else 0

    def curl(self, url, *extra, max_time=10, port=8080):
        p = subprocess.run(ns(self.net.laptop, "curl", "-sS", "--max-time", str(max_time), "-x",
                              "http://127.0.0.1:%d" % port, *extra, url), capture_output=True, timeout=max_time + 10)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def audits(self):
        out = {}
        for name in RELAYS:
            try:
                with open("%s/%s.audit" % (self.dir, name)) as f:
                    out[name] = f.read().splitlines()
            except FileNotFoundError:
                out[name] = []
        return out

    def serving(self):
        """The relays the agent's links are on now, from their /metrics."""
        out = []
        for name, addr in RELAYS.items():
            if name in self.daemons and self.daemons[name].proc.poll() is None:
                m = re.search(r"^ferry_links (\d+)", self.office_get("http://%s:9443/metrics" % addr), re.M)
                if m and int(m.group(1)) > 0:
                    out.append(name)
        return out

    def restore(self, name):
        """Puts a stopped relay back, for the next test."""
        self.daemons[name].stop(timeout=15)
        self.start_relay(name)
        self.wait_backends_up()

    def test_1_the_audit_shows_the_agents_real_address(self):
        before = self.audits()
        rc, out, err = self.curl("http://198.18.2.2/whoami")
        self.assertEqual((rc, out), (0, b"198.18.2.1"), err)
        deadline = time.time() + 10
        while True:
            new = [l for name, lines in self.audits().items() for l in lines[len(before[name]):]]
            if new or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(new), 1, new)
        self.assertRegex(new[0], r'"from":"198\.18\.1\.2:\d+"')  # the laptop, not HAProxy's 127.0.0.1
        self.assertEqual(sorted(self.serving()), sorted(RELAYS), "leastconn puts the two links apart")

    def test_2_the_proxy_headers_trust_rules(self):
        untrusted, missing = self.metric("relay-a", "proxy_header_untrusted"), self.metric("relay-a", "proxy_header_missing")
        # From 198.18.2.1 (not trusted), a PROXY header naming someone else; then from 127.0.0.1
        # (trusted) no header at all. Each is closed at once, well before the handshake timeout.
        script = textwrap.dedent("""
            import socket, sys, time
            sig = bytes.fromhex("0D0A0D0A000D0A515549540A")
            header = sig + bytes.fromhex("2111000C") + bytes([10, 9, 8, 7, 127, 0, 0, 11]) + bytes.fromhex("C7381D13")
            for src, data in (("198.18.2.1", header + b"\\x00" * 64), ("127.0.0.1", b"\\x00\\x01" + b"\\x00" * 64)):
                s = socket.socket()
                s.bind((src, 0))
                s.connect(("127.0.0.11", 7443))
                s.settimeout(3)
                start = time.time()
                s.sendall(data)
                try:
                    while s.recv(4096):
                        pass
                    how = "closed"
                except ConnectionResetError:
                    how = "reset"
                except socket.timeout:
                    how = "still open"
                print(src, how, round(time.time() - start, 2))
        """)
        p = subprocess.run(ns(self.net.office, sys.executable, "-c", script), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        for line in p.stdout.splitlines():
            src, how, took = line.split()
            self.assertIn(how, ("closed", "reset"), line)
            self.assertLess(float(took), 2.0, line)
        deadline = time.time() + 5
        while time.time() < deadline and (self.metric("relay-a", "proxy_header_untrusted") == untrusted or
                                          self.metric("relay-a", "proxy_header_missing") == missing):
            time.sleep(0.1)
        self.assertEqual(self.metric("relay-a", "proxy_header_untrusted"), untrusted + 1)
        self.assertEqual(self.metric("relay-a", "proxy_header_missing"), missing + 1)
        self.assertRegex("\n".join(self.daemons["relay-a"].lines),
                         r"connection from 127\.0\.0\.1:\d+ \(a trusted load balancer\) closed: PROXY v2: no signature")

    def test_2b_a_balancer_that_vanishes_or_stalls_mid_header(self):
        """A trusted connection whose PROXY header stops half-way: closed by its peer, reset, or left
        hanging. Each is counted, the stalled one closed after the 5 s wait, and the relay serves on."""
        missing = self.metric("relay-a", "proxy_header_missing")
        script = textwrap.dedent("""
            import socket, struct, time
            half = bytes.fromhex("0D0A0D0A000D0A515549540A2111")  # 14 of the header's 28 bytes
            for how in ("close", "reset", "stall"):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                s.connect(("127.0.0.11", 7443))
                s.sendall(half)
                start = time.time()
                if how == "reset":  # once the relay has the half (reset before its accept, it is not even seen)
                    time.sleep(0.3)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if how != "stall":
                    s.close()
                    continue
                s.settimeout(10)
                try:
                    ended = s.recv(1) == b""
                except ConnectionResetError:
                    ended = True
                print("stall", ended, round(time.time() - start, 2))
        """)
        p = subprocess.run(ns(self.net.office, sys.executable, "-c", script), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, ended, took = p.stdout.split()
        self.assertEqual(ended, "True")
        self.assertGreater(float(took), 4.5)  # the header wait's 5 s, not the handshake's
        self.assertLess(float(took), 8.0)
        deadline = time.time() + 5
        while time.time() < deadline and self.metric("relay-a", "proxy_header_missing") < missing + 3:
            time.sleep(0.1)
        self.assertEqual(self.metric("relay-a", "proxy_header_missing"), missing + 3, "\n".join(self.daemons["relay-a"].lines[-8:]))
        self.assertEqual(self.curl("http://198.18.2.2/whoami")[:2], (0, b"198.18.2.1"))
        self.assertIsNone(self.daemons["relay-a"].proc.poll())

    def test_3_a_killed_relay_new_requests_go_to_the_other_within_5_s(self):
        # The one-link agent: its relay is the one that logged its link last.
        self.assertEqual(self.curl("http://198.18.2.2/whoami", port=8081)[0], 0)
        # Its relay: the one that logged its link last (a retry at start may have reached the other).
        last = {n: max([l for l in self.daemons[n].lines if 'agent "single" connected' in l] or [""]) for n in RELAYS}
        killed = max(last, key=last.get)
        self.assertTrue(last[killed], "no relay logged the one-link agent")
        self.daemons[killed].proc.send_signal(signal.SIGKILL)
        self.daemons[killed].proc.wait(10)
        start = time.time()
        while True:
            rc, out, err = self.curl("http://198.18.2.2/whoami", max_time=3, port=8081)
            if rc == 0:
                break
            self.assertLess(time.time() - start, 5, "no request succeeded within 5 s: " + err)
        took = time.time() - start
        self.assertEqual(out, b"198.18.2.1")
        self.assertLess(took, 5.0)
        print("\nthe one-link agent's first request through the other relay: %.2f s after SIGKILL" % took,
              file=sys.stderr)
        self.restore(killed)

    def test_4_a_rolling_restart(self):
        # The one-link agent downloads 24 MiB at 8 MiB/s (about 3 s, well inside the 10 s drain) while
        # its relay gets SIGTERM: the download finishes there, and a new request from the same agent
        # goes at once to the other relay on a new link (the agent does not wait for the old one).
        download = subprocess.Popen(ns(self.net.laptop, "curl", "-sS", "--max-time", "30", "-x", "http://127.0.0.1:8081",
                                       "http://198.18.2.2/big/24"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10  # until the download runs (on a loaded machine curl starts late)
        while True:
            time.sleep(0.5)
            streams = {n: int(re.search(r"^ferry_streams (\d+)", self.office_get("http://%s:9443/metrics" % a),
                                        re.M).group(1))
                       for n, a in RELAYS.items()}
            if sum(streams.values()) > 0 or time.time() > deadline:
                break
        draining = max(streams, key=streams.get)
        self.assertEqual(sorted(streams.values()), [0, 1], streams)
        other = [n for n in RELAYS if n != draining][0]
        self.daemons[draining].proc.send_signal(signal.SIGTERM)
        self.daemons[draining].wait_for(r"draining")
        health = self.office_get("http://%s:9443/health" % RELAYS[draining])
        self.assertTrue(health.startswith("HTTP/1.1 503"), health)
        before = len(self.audits()[other])
        start = time.time()
        rc, out, err = self.curl("http://198.18.2.2/whoami", max_time=8, port=8081)
        took = time.time() - start
        self.assertEqual((rc, out), (0, b"198.18.2.1"), err)
        print("\na new request during the drain answered in %.2f s, through the other relay" % took, file=sys.stderr)
        self.assertLess(took, 2.0, "a new stream waited for the draining relay")
        self.assertEqual(len(wait_audit("%s/%s.audit" % (self.dir, other), before + 1)), before + 1,
                         "the new stream went to the other relay")
        body, err = download.communicate(timeout=40)
        self.assertEqual(download.returncode, 0, err)
        want = (bytes(range(256)) * 4096) * 24
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(want).hexdigest())
        self.assertEqual(self.daemons[draining].proc.wait(15), 0)
        self.restore(draining)

    def test_5_one_enrolment_list_for_the_fleet(self):
        d = self.dir
        late_pub = subprocess.run([AGENT, "keygen", "--out", d + "/late.key"], check=True, capture_output=True,
                                  text=True).stdout.strip()
        # Enrolled through relay-b's configuration: the file lands in the shared agents.d.
        out = subprocess.run([RELAY, "enroll", "--config", d + "/relay-b.toml", "--name", "late", "--pubkey", late_pub],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(sorted(os.listdir(d + "/agents.d")), ["laptop.toml", "late.toml", "single.toml"])
        dup = subprocess.run([RELAY, "enroll", "--config", d + "/relay-a.toml", "--name", "late", "--pubkey", late_pub],
                             capture_output=True, text=True)
        self.assertEqual(dup.returncode, 2)
        self.assertIn('"late" is listed twice', dup.stderr)
        for name in RELAYS:
            self.daemons[name].proc.send_signal(signal.SIGHUP)
            self.daemons[name].wait_for(r"reloaded: 3 agents, 0 revoked \(agents from 4 files\)")
        with open(d + "/late.toml", "w") as f:
            f.write('private_key_file = "late.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                    '[http]\nlisten = "127.0.0.1:8082"\n' % self.relay_pub)
        late = Daemon(ns(self.net.laptop, AGENT, "--config", d + "/late.toml"))
        self.daemons["late"] = late
        late.wait_for(r"link 2 of 2 up", timeout=20)  # both links: through each relay, by leastconn or not
        rc, out, err = self.curl("http://198.18.2.2/whoami", port=8082)
        self.assertEqual((rc, out), (0, b"198.18.2.1"), err)
        # The policy file is the fleet's too: a rule changed there holds on every relay after a HUP.
        with open(d + "/policy.toml", "w") as f:
            f.write('[policy]\nrules = ["deny *"]\n')
        for name in RELAYS:
            self.daemons[name].proc.send_signal(signal.SIGHUP)
            self.daemons[name].wait_for(r"reloaded: 3 agents, 0 revoked", timeout=10)
        # Every worker of each relay applies what its worker 0 read: a moment after the log line.
        for port in (8080, 8082):
            deadline = time.time() + 5
            while True:
                rc, out, err = self.curl("http://198.18.2.2/whoami", "-i", port=port)
                if b"403" in out.split(b"\r\n")[0] or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertIn(b"403", out.split(b"\r\n")[0], out)
        with open(d + "/policy.toml", "w") as f:
            f.write('[policy]\nrules = ["allow 198.18.2.2:80", "deny *"]\n')
        for name in RELAYS:
            self.daemons[name].proc.send_signal(signal.SIGHUP)


class RelaysListedInAgentToml(unittest.TestCase):
    """agent.toml's [relay] address as a list, with no load balancer (root only):

        laptop 198.18.1.2 ── office 198.18.1.1: relay-1 :7444, relay-2 :7445 (egress 198.18.2.1)
                                                relay-3 :7446 (egress 198.18.2.3: not the office's)

    Agent "pair" lists relay-1 then relay-2; agent "picky" lists relay-3 then relay-1, and expects
    the egress 198.18.2.1 (egress_check_url: the target answers the caller's address)."""

    PORTS = {"relay-1": (7444, "198.18.2.1"), "relay-2": (7445, "198.18.2.1"), "relay-3": (7446, "198.18.2.3")}

    @classmethod
    def setUpClass(cls):
        cls.net = Network("frl%d" % os.getpid())
        cls.net.create_laptop()
        cls.daemons = {}
        cls.dir = tempfile.mkdtemp(prefix="ferry-relays-")
        try:
            cls.net.build()
            subprocess.run(ns(cls.net.office, "ip", "addr", "add", "198.18.2.3/24", "dev", cls.net.dev("c")), check=True)
            d = cls.dir
            cls.relay_pub = subprocess.run([RELAY, "keygen", "--out", d + "/relay.key"], check=True,
                                           capture_output=True, text=True).stdout.strip()
            os.mkdir(d + "/agents.d")
            for agent in ("pair", "picky"):
                pub = subprocess.run([AGENT, "keygen", "--out", "%s/%s.key" % (d, agent)], check=True,
                                     capture_output=True, text=True).stdout.strip()
                with open("%s/agents.d/%s.toml" % (d, agent), "w") as f:
                    f.write('[[agents]]\nname = "%s"\npublic_key = "%s"\n' % (agent, pub))
            for name, (port, egress) in cls.PORTS.items():
                with open("%s/%s.toml" % (d, name), "w") as f:
                    f.write('listen = "198.18.1.1:%d"\nprivate_key_file = "relay.key"\negress_bind = "%s"\n'
                            'audit_log = "%s.audit"\nagents_file = "agents.d"\n'
                            '[policy]\nrules = ["allow 198.18.2.2:80", "deny *"]\n' % (port, egress, name))
            cls.daemons["target"] = Daemon(ns(cls.net.target, sys.executable, "-c", TARGET))
            cls.daemons["target"].wait_for(r"^ready$")
            for name in cls.PORTS:
                cls.start_relay(name)
            for agent, relays, port in (("pair", ("relay-1", "relay-2"), 8080), ("picky", ("relay-3", "relay-1"), 8081)):
                with open("%s/%s.toml" % (d, agent), "w") as f:
                    f.write('private_key_file = "%s.key"\n[relay]\naddress = [%s]\npublic_key = "%s"\n'
                            'egress_check_url = "http://198.18.2.2/whoami"\nexpected_egress = "198.18.2.1"\n'
                            '[http]\nlisten = "127.0.0.1:%d"\n'
                            % (agent, ", ".join('"198.18.1.1:%d"' % cls.PORTS[r][0] for r in relays), cls.relay_pub,
                               port))
                cls.daemons[agent] = Daemon(ns(cls.net.laptop, AGENT, "--config", "%s/%s.toml" % (d, agent)))
            cls.daemons["pair"].wait_for(r"egress check: the target sees you as 198\.18\.2\.1", timeout=20)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", {}).values():
            daemon.stop(timeout=10)
        cls.net.delete()
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    @classmethod
    def start_relay(cls, name):
        relay = Daemon(ns(cls.net.office, RELAY, "--config", "%s/%s.toml" % (cls.dir, name)))
        relay.wait_for(r"^.*listening on 198\.18\.1\.1:%d" % cls.PORTS[name][0])
        cls.daemons[name] = relay

    def curl(self, port, max_time=10):
        p = subprocess.run(ns(self.net.laptop, "curl", "-sS", "--max-time", str(max_time), "-x",
                              "http://127.0.0.1:%d" % port, "http://198.18.2.2/whoami"), capture_output=True,
                           timeout=max_time + 10)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def status(self, agent, port):
        p = subprocess.run(ns(self.net.laptop, "curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/status" % port),
                           capture_output=True, text=True, timeout=15)
        import json
        return json.loads(p.stdout)

    def test_1_a_relay_whose_egress_is_not_the_offices_is_not_used(self):
        picky = self.daemons["picky"]
        picky.wait_for(r"relay 198\.18\.1\.1:7444 takes new streams: 198\.18\.1\.1:7446 is not used: targets see "
                       r"it as 198\.18\.2\.3, not 198\.18\.2\.1 \(expected_egress\)", timeout=20)
        rc, out, err = self.curl(8081)
        self.assertEqual((rc, out), (0, b"198.18.2.1"), err)
        relays = self.status("picky", 8081)["relays"]
        self.assertEqual([r["address"] for r in relays], ["198.18.1.1:7446", "198.18.1.1:7444"])
        self.assertTrue(relays[0]["state"].startswith("not used: targets see it as 198.18.2.3"), relays)
        self.assertEqual(relays[1]["state"], "serving")
        text = subprocess.run(ns(self.net.laptop, AGENT, "status", "--config", self.dir + "/picky.toml"),
                              capture_output=True, text=True, timeout=15).stdout
        self.assertRegex(text, r"relay 1: +198\.18\.1\.1:7446: not used: targets see it as 198\.18\.2\.3")
        self.assertRegex(text, r"relay 2: +198\.18\.1\.1:7444: serving")

    def test_4_the_serving_relay_killed_new_streams_go_to_the_next_within_5_s(self):
        self.assertEqual(self.curl(8080)[:2], (0, b"198.18.2.1"))
        relays = self.status("pair", 8080)["relays"]
        states = [r["state"].split(";")[0] for r in relays]
        self.assertEqual(sorted(states), ["serving", "standby"], relays)
        killed, other = ("relay-1", "relay-2") if states[0] == "serving" else ("relay-2", "relay-1")
        audit = "%s/%s.audit" % (self.dir, other)
        before = len(audit_lines(audit))
        self.daemons[killed].proc.send_signal(signal.SIGKILL)
        self.daemons[killed].proc.wait(10)
        start = time.time()
        while True:
            rc, out, err = self.curl(8080, max_time=3)
            if rc == 0:
                break
            self.assertLess(time.time() - start, 5, "no request succeeded within 5 s: " + err)
        took = time.time() - start
        print("\n%s killed: the first request through %s after %.2f s" % (killed, other, took), file=sys.stderr)
        self.assertEqual(out, b"198.18.2.1")
        self.assertLess(took, 5.0)
        # The request, and the egress check on the new relay's session.
        self.assertGreaterEqual(len(wait_audit(audit, before + 1)), before + 1)
        relays = {r["address"]: r["state"] for r in self.status("pair", 8080)["relays"]}
        self.assertEqual(relays["198.18.1.1:%d" % self.PORTS[other][0]], "serving")
        self.assertRegex(relays["198.18.1.1:%d" % self.PORTS[killed][0]],
                         r"^standby; new streams left it: no link to 198\.18\.1\.1:%d" % self.PORTS[killed][0])
        self.daemons[killed].stop()
        self.start_relay(killed)

    def test_3_streams_resume_on_their_relay_while_new_ones_go_to_another(self):
        """A download through the active relay; the laptop's network goes away for 4 s (longer than
        the 2.5 s failover), so the other relay becomes active; when the network is back the download
        resumes on its own relay, intact, while a new request goes to the newly active one."""
        relays = self.status("pair", 8080)["relays"]
        serving = [i for i, r in enumerate(relays) if r["state"] == "serving"]
        self.assertEqual(len(serving), 1, relays)
        old, new = ("relay-1", "relay-2") if serving[0] == 0 else ("relay-2", "relay-1")
        download = subprocess.Popen(ns(self.net.laptop, "curl", "-sS", "--max-time", "60", "-x", "http://127.0.0.1:8080",
                                       "http://198.18.2.2/big/48"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        subprocess.run(ns(self.net.laptop, "ip", "link", "set", self.net.dev("a"), "down"), check=True)
        try:
            self.daemons["pair"].wait_for(r"relay 198\.18\.1\.1:%d takes new streams" % self.PORTS[new][0], timeout=10)
            time.sleep(1.5)
        finally:
            subprocess.run(ns(self.net.laptop, "ip", "link", "set", self.net.dev("a"), "up"), check=True)
            subprocess.run(ns(self.net.laptop, "ip", "route", "replace", "default", "via", "198.18.1.1"), check=True)
        self.daemons["pair"].wait_for(r"resuming session", timeout=20)
        audit = "%s/%s.audit" % (self.dir, new)
        before = len(audit_lines(audit))
        deadline = time.time() + 10
        while True:
            rc, out, err = self.curl(8080, max_time=3)
            if rc == 0 or time.time() > deadline:
                break
        self.assertEqual((rc, out), (0, b"198.18.2.1"), err)
        self.assertGreater(len(wait_audit(audit, before + 1)), before, "the new request went to " + new)
        body, err = download.communicate(timeout=60)
        self.assertEqual(download.returncode, 0, err)
        want = (bytes(range(256)) * 4096) * 48
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(want).hexdigest(),
                         "the download resumed on %s, intact" % old)


if __name__ == "__main__":
    unittest.main()
