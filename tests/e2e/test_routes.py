"""Routes pushed by the relay, and the agent's GET /proxy.pac, evaluated by a real JavaScript engine.

The relay lists `[routes] through`; the agent adds `[routes] extra`. The PAC is fetched from the
agent and run in Node.js (pac_eval.js, the standard PAC helpers, and traps that fail the test if the
PAC tries to resolve a name). A SIGHUP with new routes changes the PAC within 10 s. In network
namespaces (root only), headless Chromium given only --proxy-pac-url reaches a listed office-only name
through the relay and an unlisted address directly.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon, Ferry, curl  # noqa: E402
from netns_kit import Network, ns, who_asked_server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
THROUGH = ["*.corp.example.com", "staging.example.com", "198.51.100.0/24", "2001:db8:ab::/48"]
EXTRA = ["my.example.org", "10.9.0.0/16"]


def toml_list(items):
    return "[" + ", ".join('"%s"' % i for i in items) + "]"


class Routes(unittest.TestCase):
    def setUp(self):
        self.node = shutil.which("node") or shutil.which("nodejs")
        self.ferry = Ferry(["deny *"], relay_extra="[routes]\nthrough = %s\n" % toml_list(THROUGH),
                           agent_extra="[routes]\nextra = %s\n" % toml_list(EXTRA))
        self.addCleanup(self.ferry.close)
        self.proxy = "PROXY 127.0.0.1:%d; SOCKS5 127.0.0.1:%d" % (self.ferry.http_port, self.ferry.socks_port)
        self.ferry.agent.wait_for(r"routes from the relay: 4 \(version [0-9a-f]{8}\)")

    def pac(self):
        rc, out, err = curl("-i", "http://127.0.0.1:%d/proxy.pac" % self.ferry.http_port)
        self.assertEqual(rc, 0, err)
        head, body = out.decode().split("\r\n\r\n", 1)
        return head, body

    def evaluate(self, body, hosts):
        if not self.node:
            self.skipTest("needs Node.js (Debian's nodejs package)")
        path = self.ferry.path("proxy.pac")
        with open(path, "w") as f:
            f.write(body)
        p = subprocess.run([self.node, os.path.join(HERE, "pac_eval.js"), path] + hosts, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_the_pac_sends_listed_targets_through_ferry_and_nothing_else(self):
        head, body = self.pac()
        self.assertIn("Content-Type: application/x-ns-proxy-autoconfig", head)
        self.assertIn("Cache-Control: no-cache", head)
        through = ["a.corp.example.com", "x.y.corp.example.com", "staging.example.com", "STAGING.Example.com.",
                   "198.51.100.7", "198.51.100.255", "2001:db8:ab:1::5", "::ffff:198.51.100.7",
                   "my.example.org", "10.9.255.1"]
        direct = ["corp.example.com",        # "*." is strictly below the name
                  "xcorp.example.com", "staging.example.com.evil.net", "www.example.com", "198.51.101.7",
                  "2001:db8:ac::5", "10.10.0.1", "localhost", "intranet",
                  "nowhere.invalid"]         # resolves nowhere: decided without a lookup
        got = self.evaluate(body, through + direct)
        for host in through:
            self.assertEqual(got[host], self.proxy, host)  # and no "; DIRECT": it fails closed
        for host in direct:
            self.assertEqual(got[host], "DIRECT", host)

    def test_status_shows_the_routes_and_their_version(self):
        text, status = self.ferry.agent_status()
        self.assertRegex(text["routes"], r"^4 from the relay \(version [0-9a-f]{8}\), 2 of your own; PAC: http://")
        self.assertEqual(status["routes"], THROUGH)
        self.assertEqual(status["routes_extra"], EXTRA)
        self.assertRegex(status["routes_version"], r"^[0-9a-f]{8}$")
        _, body = self.pac()
        self.assertIn("(version %s)" % status["routes_version"], body)

    def test_a_reload_changes_the_pac_within_10_s(self):
        _, status = self.ferry.agent_status()
        before = status["routes_version"]
        with open(self.ferry.path("relay.toml")) as f:
            config = f.read()
        self.ferry.write("relay.toml", config.replace(toml_list(THROUGH), toml_list(["*.new.example.net"])))
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        self.ferry.relay.wait_for("reloaded")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, body = self.pac()
            if '".new.example.net"' in body:
                break
            time.sleep(0.2)
        self.assertIn('var FERRY_BELOW = [".new.example.net"];', body)
        self.assertNotIn("staging.example.com", body)
        self.assertIn('"my.example.org"', body)  # the agent's own stay
        _, status = self.ferry.agent_status()
        self.assertNotEqual(status["routes_version"], before)
        got = self.evaluate(body, ["a.new.example.net", "a.corp.example.com"])
        self.assertEqual(got, {"a.new.example.net": self.proxy, "a.corp.example.com": "DIRECT"})
        # A reload that changes nothing pushes nothing: the version, and the agent's log, stay.
        seen = len([l for l in self.ferry.agent.lines if "routes from the relay" in l])
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        self.assertEqual(len([l for l in self.ferry.agent.lines if "routes from the relay" in l]), seen)

    def test_a_bad_route_is_a_config_error_naming_it(self):
        bad = self.ferry.path("bad.toml")
        with open(self.ferry.path("relay.toml")) as f:
            config = f.read()
        with open(bad, "w") as f:
            f.write(config.replace(toml_list(THROUGH), toml_list(["ok.example", "intranet:443"])))
        p = subprocess.run([RELAY, "check", "--config", bad], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r"routes\.through: entry 2 \"intranet:443\": a route has no port")


if __name__ == "__main__":
    unittest.main()


PAGE_SERVER = who_asked_server("<html><body><p id=seen>seen from %s</p></body></html>", "text/html")


class BrowserWithThePac(unittest.TestCase):
    """Headless Chromium given only --proxy-pac-url, in network namespaces (root only):

        laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target
        agent, Chromium        relay; knows intranet.corp      the page says who asked

    The listed office-only name goes through the relay (the page sees the office's 198.18.2.1); an
    unlisted address goes directly (the page sees the laptop's 198.18.1.2)."""

    @classmethod
    def setUpClass(cls):
        cls.net = Network("frt%d" % os.getpid())
        cls.net.create_laptop()
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-routes-")
        try:
            cls.net.build()
            office = cls.net.office
            os.makedirs("/etc/netns/" + office, exist_ok=True)
            with open("/etc/netns/%s/hosts" % office, "w") as f:
                f.write("127.0.0.1 localhost\n198.18.2.2 intranet.corp\n")
            d = cls.dir
            relay_pub = subprocess.run([RELAY, "keygen", "--out", d + "/relay.key"], check=True, capture_output=True,
                                       text=True).stdout.strip()
            agent_pub = subprocess.run([AGENT, "keygen", "--out", d + "/agent.key"], check=True, capture_output=True,
                                       text=True).stdout.strip()
            with open(d + "/relay.toml", "w") as f:
                f.write('listen = "198.18.1.1:7443"\nprivate_key_file = "relay.key"\negress_bind = "198.18.2.1"\n'
                        '[routes]\nthrough = ["intranet.corp"]\n[policy]\nrules = ["allow intranet.corp:80", "deny *"]\n'
                        '[[agents]]\nname = "laptop"\npublic_key = "%s"\n' % agent_pub)
            with open(d + "/agent.toml", "w") as f:
                f.write('private_key_file = "agent.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                        '[http]\nlisten = "127.0.0.1:8080"\n[socks]\nlisten = "127.0.0.1:1080"\n' % relay_pub)
            target = Daemon(ns(cls.net.target, sys.executable, "-c", PAGE_SERVER))
            cls.daemons.append(target)
            target.wait_for(r"^ready$")
            relay = Daemon(ns(office, RELAY, "--config", d + "/relay.toml"))
            cls.daemons.append(relay)
            relay.listening(1)
            cls.agent = Daemon(ns(cls.net.laptop, AGENT, "--config", d + "/agent.toml"))
            cls.daemons.append(cls.agent)
            cls.agent.listening(2)
            cls.agent.wait_for(r"routes from the relay: 1 ")
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", []):
            daemon.stop(timeout=10)
        cls.net.delete()
        shutil.rmtree("/etc/netns/" + cls.net.office, ignore_errors=True)
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def browse(self, url):
        chromium = shutil.which("chromium")
        if not chromium:
            self.skipTest("needs Debian's chromium package")
        profile = tempfile.mkdtemp(prefix="ferry-chromium-")
        try:
            p = subprocess.run(ns(self.net.laptop, chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                       "--no-first-run", "--disable-background-networking",
                                       "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
                                       "--proxy-pac-url=http://127.0.0.1:8080/proxy.pac", "--dump-dom", url),
                               capture_output=True, text=True, timeout=120)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return p.stdout

    def test_a_listed_office_only_name_goes_through_the_relay(self):
        self.assertIn("seen from 198.18.2.1", self.browse("http://intranet.corp/"))

    def test_an_unlisted_address_goes_directly(self):
        self.assertIn("seen from 198.18.1.2", self.browse("http://198.18.2.2/"))
