"""`ferry-agent doctor`, the egress check and the status page.

The doctor part runs in network namespaces this test creates (ip netns + veth, 198.18.0.0/15):

    laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target
    agent, doctor          relay (egress 198.18.2.1)       /ip answers the caller's address

A healthy setup exits 0 and prints the address the target saw, which is the relay's egress_bind. Each
fault has its own exit code and advice: relay not running (3), wrong relay key (4), agent not enrolled
(4), expected_egress wrong (5), --target denied by a named rule (6), a key with group read (2). It
skips with the reason when not root.

The status page part runs on loopback: GET / lists an open stream's target and a refusal's rule, and
headless Chromium renders it (a screenshot is taken and checked to be a real image).
"""
import json
import os
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
from fault_kit import Echo, serve, socks5_open  # noqa: E402
from harness import AGENT, RELAY, Daemon, Ferry, curl, raw  # noqa: E402
from netns_kit import Network, ns, who_asked_server  # noqa: E402

PREFIX = "fdoc%d" % os.getpid()
NET = Network(PREFIX)
LAPTOP, OFFICE, TARGET = NET.laptop, NET.office, NET.target
EGRESS = "198.18.2.1"

# What-is-my-IP: the body is the caller's address and nothing else.
IP_SERVER = who_asked_server("%s\n", path="/ip")


def keygen(binary, path):
    return subprocess.run([binary, "keygen", "--out", path], check=True, capture_output=True, text=True).stdout.strip()


class Doctor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        NET.create_laptop()
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-doctor-")
        try:
            NET.build()
            cls.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        d = cls.dir
        cls.relay_pub = keygen(RELAY, d + "/relay.key")
        cls.agent_pub = keygen(AGENT, d + "/agent.key")
        cls.other_relay_pub = keygen(RELAY, d + "/other-relay.key")
        cls.stranger_pub = keygen(AGENT, d + "/stranger.key")
        with open(d + "/relay.toml", "w") as f:
            f.write('listen = "198.18.1.1:7443"\nprivate_key_file = "relay.key"\negress_bind = "%s"\n'
                    '[policy]\nrules = ["allow 198.18.2.2:80", "deny *"]\n'
                    '[[agents]]\nname = "laptop"\npublic_key = "%s"\n' % (EGRESS, cls.agent_pub))
        target = Daemon(ns(TARGET, sys.executable, "-c", IP_SERVER))
        cls.daemons.append(target)
        target.wait_for(r"^ready$")
        cls.relay = Daemon(ns(OFFICE, RELAY, "--config", d + "/relay.toml"))
        cls.daemons.append(cls.relay)
        cls.relay.listening(1)
        cls.write_agent("agent.toml")
        # A running agent: the doctor works beside it (its ports are "held by a running ferry-agent"), and
        # its own egress check shows in `ferry-agent status`.
        cls.agent = Daemon(ns(LAPTOP, AGENT, "--config", d + "/agent.toml"))
        cls.daemons.append(cls.agent)
        cls.agent.listening(2)
        cls.agent.wait_for("link up")

    @classmethod
    def write_agent(cls, name, key="agent.key", relay="198.18.1.1:7443", relay_pub=None,
                    expected=EGRESS, url="http://198.18.2.2/ip"):
        text = ('private_key_file = "%s"\n[relay]\naddress = "%s"\npublic_key = "%s"\n'
                % (key, relay, relay_pub or cls.relay_pub))
        if url:
            text += 'egress_check_url = "%s"\n' % url
        if expected:
            text += 'expected_egress = "%s"\n' % expected
        text += '[http]\nlisten = "127.0.0.1:8080"\n[socks]\nlisten = "127.0.0.1:1080"\n'
        with open(os.path.join(cls.dir, name), "w") as f:
            f.write(text)
        return os.path.join(cls.dir, name)

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", []):
            daemon.stop(timeout=10)
        NET.delete()
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def doctor(self, config, *args):
        p = subprocess.run(ns(LAPTOP, AGENT, "doctor", "--config", config) + list(args), capture_output=True,
                           text=True, timeout=90)
        return p.returncode, p.stdout, p.stderr

    def line(self, out, check):
        """The status word and detail of one check's line ("OK", "connected to ...")."""
        m = re.search(r"^  (OK|FAIL|SKIP)\s+%s\s+(.*)$" % re.escape(check), out, re.M)
        self.assertIsNotNone(m, "no line for %r in:\n%s" % (check, out))
        return m.group(1), m.group(2)

    def test_a_healthy_setup_passes_and_names_the_egress_address(self):
        rc, out, err = self.doctor(self.dir + "/agent.toml")
        self.assertEqual(rc, 0, out + err)
        for check in ("config", "key file", "local ports", "relay name", "tcp", "handshake", "wire", "rtt", "egress"):
            self.assertEqual(self.line(out, check)[0], "OK", check + ":\n" + out)
        self.assertIn("held by a running ferry-agent", self.line(out, "local ports")[1])
        self.assertRegex(self.line(out, "wire")[1], r"^version 2 \(streams survive a lost link for 90 s\), cipher ")
        self.assertRegex(self.line(out, "rtt")[1], r"^\d+ ms$")
        # The address the target saw is the relay's egress_bind, learnt through the link.
        self.assertIn("the target sees you as %s, as expected_egress says" % EGRESS, self.line(out, "egress")[1])
        self.assertEqual(self.line(out, "target"), ("SKIP", "no --target HOST:PORT given"))
        self.assertTrue(out.rstrip().endswith("all checks passed"), out)

    def test_json_is_the_same_report(self):
        rc, out, err = self.doctor(self.dir + "/agent.toml", "--json", "--target", "198.18.2.2:80")
        self.assertEqual(rc, 0, out + err)
        report = json.loads(out)
        self.assertEqual(report["exit_code"], 0)
        checks = {c["check"]: c for c in report["checks"]}
        self.assertEqual([c["check"] for c in report["checks"]],
                         ["config", "key file", "local ports", "relay name", "tcp", "handshake", "wire", "rtt",
                          "egress", "target"])
        self.assertTrue(all(c["status"] == "OK" for c in report["checks"]), out)
        self.assertIn("the target sees you as " + EGRESS, checks["egress"]["detail"])
        self.assertEqual(checks["target"]["detail"], "198.18.2.2:80: allowed; the relay connected to it")

    def test_the_running_agent_shows_its_last_egress_check(self):
        p = subprocess.run(ns(LAPTOP, AGENT, "status", "--config", self.dir + "/agent.toml"), capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"egress check:\s+OK: the target sees you as %s, as expected_egress says \(\d+ s ago\)"
                         % re.escape(EGRESS))

    def test_relay_not_running_is_exit_3(self):
        rc, out, err = self.doctor(self.write_agent("norelay.toml", relay="198.18.1.1:7444"))
        self.assertEqual(rc, 3, out + err)
        status, detail = self.line(out, "tcp")
        self.assertEqual(status, "FAIL")
        self.assertIn("198.18.1.1:7444: Connection refused", detail)
        self.assertIn("is ferry-relay running", out)
        self.assertEqual(self.line(out, "handshake"), ("SKIP", "not checked: tcp failed"))

    def test_a_wrong_relay_key_is_exit_4_with_the_enrol_line(self):
        rc, out, err = self.doctor(self.write_agent("wrongkey.toml", relay_pub=self.other_relay_pub))
        self.assertEqual(rc, 4, out + err)
        self.assertEqual(self.line(out, "tcp")[0], "OK")
        self.assertEqual(self.line(out, "handshake")[0], "FAIL")
        self.assertIn("either [relay] public_key is not this relay's key", out)
        self.assertIn("ferry-relay enroll --config relay.toml --name NAME --pubkey " + self.agent_pub, out)

    def test_an_agent_not_enrolled_is_exit_4_and_names_its_own_key(self):
        key = self.dir + "/stranger.key"
        rc, out, err = self.doctor(self.write_agent("stranger.toml", key=key))
        self.assertEqual(rc, 4, out + err)
        self.assertEqual(self.line(out, "handshake")[0], "FAIL")
        self.assertIn("or this agent is not enrolled", out)
        self.assertIn("--pubkey " + self.stranger_pub, out)
        self.assertNotIn(self.agent_pub, out)

    def test_a_different_egress_is_exit_5_naming_both_addresses(self):
        rc, out, err = self.doctor(self.write_agent("elsewhere.toml", expected="203.0.113.7"))
        self.assertEqual(rc, 5, out + err)
        status, detail = self.line(out, "egress")
        self.assertEqual(status, "FAIL")
        self.assertEqual(detail, "the target sees you as %s, but expected_egress is 203.0.113.7" % EGRESS)

    def test_an_egress_url_the_policy_denies_is_exit_5_with_the_rule(self):
        rc, out, err = self.doctor(self.write_agent("denied-url.toml", url="http://198.18.2.2:8080/ip", expected=None))
        self.assertEqual(rc, 5, out + err)
        self.assertIn('denied by policy (rule 2 of [policy]: "deny *")', self.line(out, "egress")[1])

    def test_a_denied_target_is_exit_6_naming_the_rule(self):
        rc, out, err = self.doctor(self.dir + "/agent.toml", "--target", "198.18.2.2:22")
        self.assertEqual(rc, 6, out + err)
        status, detail = self.line(out, "target")
        self.assertEqual(status, "FAIL")
        self.assertEqual(detail, '198.18.2.2:22: denied by the relay\'s policy (rule 2 of [policy]: "deny *")')
        self.assertEqual(self.line(out, "egress")[0], "OK")  # the checks before it still ran

    def test_a_key_with_group_read_fails_the_config_checks(self):
        key = self.dir + "/shared.key"
        shutil.copy(self.dir + "/agent.key", key)
        os.chmod(key, 0o640)
        rc, out, err = self.doctor(self.write_agent("shared.toml", key=key))
        self.assertEqual(rc, 2, out + err)
        status, detail = self.line(out, "key file")
        self.assertEqual(status, "FAIL")
        self.assertIn("readable by group or others (mode 0640); run: chmod 600", detail)
        self.assertEqual(self.line(out, "tcp")[0], "OK")  # the path to the relay is still checked
        self.assertEqual(self.line(out, "handshake"), ("SKIP", "not checked: key file failed"))

    def test_usage_errors_are_exit_2(self):
        rc, out, err = self.doctor(self.dir + "/agent.toml", "--target", "no-port")
        self.assertEqual(rc, 2)
        self.assertIn("--target must be HOST:PORT", err)
        rc, out, err = self.doctor(self.dir + "/missing.toml")
        self.assertEqual(rc, 2, out)
        self.assertEqual(self.line(out, "config")[0], "FAIL")


class SlowPath:
    """A TCP forwarder on loopback that holds every chunk for `delay_s` each way: a long path."""

    def __init__(self, to_port, delay_s):
        self.to_port, self.delay_s = to_port, delay_s
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                a, _ = self.server.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.to_port))
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self.pump, args=(src, dst), daemon=True).start()

    def pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                time.sleep(self.delay_s)
                dst.sendall(data)
        except OSError:
            pass

    def close(self):
        self.closed = True
        self.server.close()


class DoctorOnALongPath(unittest.TestCase):
    def test_the_rtt_of_a_slow_path_is_measured_not_failed(self):
        """The RTT check waits for its PING's answer: 2 x 150 ms here, far above the loop's 20 ms steps."""
        ferry = Ferry(["deny *"])
        self.addCleanup(ferry.close)
        slow = SlowPath(ferry.relay_port, 0.15)
        self.addCleanup(slow.close)
        with open(ferry.path("agent.toml")) as f:
            ferry.write("slow.toml", f.read().replace("127.0.0.1:%d" % ferry.relay_port, "127.0.0.1:%d" % slow.port))
        p = subprocess.run([AGENT, "doctor", "--config", ferry.path("slow.toml")], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rtt = int(re.search(r"^  OK    rtt\s+(\d+) ms$", p.stdout, re.M).group(1))
        self.assertGreaterEqual(rtt, 250, p.stdout)


class StatusPage(unittest.TestCase):
    def setUp(self):
        self.echo = serve(Echo)
        self.addCleanup(self.echo.server_close)
        self.addCleanup(self.echo.shutdown)
        self.echo_port = self.echo.server_address[1]
        self.ferry = Ferry(["allow 127.0.0.1:%d" % self.echo_port, "deny *"])
        self.addCleanup(self.ferry.close)

    def test_the_page_lists_links_streams_and_refusals_and_renders_in_chromium(self):
        held = socks5_open(self.ferry.socks_port, self.echo_port)  # an open stream, held
        self.addCleanup(held.close)
        held.sendall(b"ping")
        self.assertEqual(held.recv(4), b"ping")
        with self.assertRaises(ConnectionError):  # and a refusal, with its rule
            socks5_open(self.ferry.socks_port, 9)
        base = "http://127.0.0.1:%d/" % self.ferry.http_port
        rc, page, err = curl("-i", base)
        self.assertEqual(rc, 0, err)
        text = page.decode()
        self.assertIn("Content-Type: text/html; charset=utf-8", text)
        self.assertIn("Content-Security-Policy: default-src 'none'", text)
        self.assertIn("<td>127.0.0.1:%d</td>" % self.echo_port, text)
        self.assertIn("127.0.0.1:9", text)
        self.assertIn("rule 2 of [policy]: &quot;deny *&quot;", text)
        # DNS rebinding: another Host gets no page.
        rc, page, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example:%d" % self.ferry.http_port,
                             base)
        self.assertEqual(page, b"421")

        chromium = shutil.which("chromium")
        if not chromium:
            self.skipTest("needs Debian's chromium package")
        profile = tempfile.mkdtemp(prefix="ferry-chromium-")
        shot = os.path.join(self.ferry.dir, "status.png")
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" + profile, "--window-size=1280,900"]
        try:
            dom = subprocess.run(flags + ["--dump-dom", base], capture_output=True, text=True, timeout=120)
            pic = subprocess.run(flags + ["--screenshot=" + shot, base], capture_output=True, text=True, timeout=120)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
        # What a person sees: the open stream's target and the refused one, in the rendered document.
        self.assertIn("<h1>ferry-agent</h1>", dom.stdout)
        self.assertIn("<td>127.0.0.1:%d</td>" % self.echo_port, dom.stdout)
        self.assertRegex(dom.stdout, r"<td>127\.0\.0\.1:9</td><td class=\"bad\">denied by policy</td>")
        self.assertEqual(pic.returncode, 0, pic.stderr[-2000:])
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        self.assertEqual((width, height), (1280, 900))
        self.assertGreater(len(png), 10000, "a blank screenshot compresses to almost nothing")
        if os.environ.get("FERRY_SCREENSHOT_DIR"):
            shutil.copy(shot, os.environ["FERRY_SCREENSHOT_DIR"])


if __name__ == "__main__":
    unittest.main()
