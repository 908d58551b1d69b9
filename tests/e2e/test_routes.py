"""Routes pushed by the relay, and the agent's GET /proxy.pac, evaluated by a real JavaScript engine.

The relay lists `[routes] through`; the agent adds `[routes] extra`. The PAC is fetched from the
agent and run in Node.js (pac_eval.js, the standard PAC helpers, and traps that fail the test if the
PAC tries to resolve a name). A SIGHUP with new routes changes the PAC within 10 s.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Ferry, curl  # noqa: E402

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
        from harness import RELAY
        p = subprocess.run([RELAY, "check", "--config", bad], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r"routes\.through: entry 2 \"intranet:443\": a route has no port")


if __name__ == "__main__":
    unittest.main()
