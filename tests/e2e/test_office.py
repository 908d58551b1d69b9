"""The office scenario, in network namespaces this test creates (ip netns + veth, 198.18.0.0/15):

    laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target
    agent, curl            relay (egress 198.18.2.1),      web server that answers only
                           hosts file: intranet.corp        the office's egress address

From the laptop, direct access to the target is refused. Through the agent with socks5h:// and
http:// it works, and the target saw the egress address. socks5:// with a name only the office can
resolve fails with curl's own clear error. An agent with an unlisted key gets nothing.
Needs root (CI runs as root); skips with the reason where namespaces cannot be created.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon  # noqa: E402
from netns_kit import Network, ns, sh  # noqa: E402

PREFIX = "ferry%d" % os.getpid()
NET = Network(PREFIX)
LAPTOP, OFFICE, TARGET = NET.laptop, NET.office, NET.target

TARGET_SERVER = textwrap.dedent("""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            ok = self.client_address[0] == "198.18.2.1"
            body = (b"intranet page, seen from " if ok else b"forbidden for ") + self.client_address[0].encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    http.server.ThreadingHTTPServer.request_queue_size = 128  # socketserver's 5 drops SYNs under load
    s = http.server.ThreadingHTTPServer(("198.18.2.2", 80), H)
    print("ready", file=sys.stderr, flush=True)
    s.serve_forever()
""")


class Office(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        NET.create_laptop()
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-office-")
        try:
            cls.build_network()
        except subprocess.CalledProcessError as e:  # namespaces, but no veth or routes here
            cls.tearDownClass()
            raise unittest.SkipTest("cannot build the test network: %s: %s" % (" ".join(e.cmd), e.stderr.decode().strip()))
        try:
            cls.start_processes()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def build_network(cls):
        NET.build()
        # The office alone knows the internal name (ip netns exec mounts this over /etc/hosts).
        os.makedirs("/etc/netns/" + OFFICE, exist_ok=True)
        with open("/etc/netns/%s/hosts" % OFFICE, "w") as f:
            f.write("127.0.0.1 localhost\n198.18.2.2 intranet.corp\n")
        # The office's resolver has a search domain, and its DNS knows secret.corp.test.
        with open("/etc/netns/%s/resolv.conf" % OFFICE, "w") as f:
            f.write("nameserver 127.0.0.1\nsearch corp.test\noptions timeout:1 attempts:1\n")

    @classmethod
    def start_processes(cls):
        d = cls.dir
        cls.relay_pub = subprocess.run([RELAY, "keygen", "--out", d + "/relay.key"], check=True, capture_output=True, text=True).stdout.strip()
        agent_pub = subprocess.run([AGENT, "keygen", "--out", d + "/agent.key"], check=True, capture_output=True, text=True).stdout.strip()
        with open(d + "/relay.toml", "w") as f:
            f.write('listen = "198.18.1.1:7443"\nprivate_key_file = "relay.key"\negress_bind = "198.18.2.1"\n'
                    '[policy]\nrules = ["deny secret.corp.test", "allow intranet.corp:80", "allow 198.18.2.0/24:80", '
                    '"allow *:80", "deny *"]\n'
                    '[[agents]]\nname = "laptop"\npublic_key = "%s"\n' % agent_pub)
        with open(d + "/agent.toml", "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                    '[http]\nlisten = "127.0.0.1:8080"\n[socks]\nlisten = "127.0.0.1:1080"\n' % cls.relay_pub)
        # A Daemon too, so that tearDownClass stops it and closes its pipe like the others.
        target = Daemon(ns(TARGET, sys.executable, "-c", TARGET_SERVER))
        cls.daemons.append(target)
        target.wait_for(r"^ready$")
        cls.dns = Daemon(ns(OFFICE, sys.executable, os.path.join(os.path.dirname(__file__), "tiny_dns.py"), "127.0.0.1",
                            "secret.corp.test=198.18.2.2"))
        cls.daemons.append(cls.dns)
        cls.dns.wait_for(r"^ready$")
        cls.relay = Daemon(ns(OFFICE, RELAY, "--config", d + "/relay.toml"))
        cls.daemons.append(cls.relay)
        cls.relay.listening(1)
        cls.agent = Daemon(ns(LAPTOP, AGENT, "--config", d + "/agent.toml"))
        cls.daemons.append(cls.agent)
        cls.agent.listening(2)
        cls.agent.wait_for("link up")

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", []):
            daemon.stop(timeout=10)
        NET.delete()
        shutil.rmtree("/etc/netns/" + OFFICE, ignore_errors=True)
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def curl(self, *args):
        p = subprocess.run(ns(LAPTOP, "curl", "-sS", "--max-time", "15") + list(args), capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def test_direct_access_is_refused(self):
        rc, body, err = self.curl("-o", "-", "-w", " %{http_code}", "http://198.18.2.2/")
        self.assertEqual(body, "forbidden for 198.18.1.2 403")

    def test_through_the_agent_the_target_sees_the_office(self):
        for proxy in ("socks5h://127.0.0.1:1080", "http://127.0.0.1:8080", "socks5h://127.0.0.1:8080",
                      "http://127.0.0.1:1080", "socks4a://127.0.0.1:1080"):
            with self.subTest(proxy=proxy):
                rc, body, err = self.curl("-x", proxy, "http://intranet.corp/")
                self.assertEqual((rc, body), (0, "intranet page, seen from 198.18.2.1"), err)

    def test_socks5_with_an_office_only_name_fails_clearly(self):
        rc, body, err = self.curl("-x", "socks5://127.0.0.1:1080", "http://intranet.corp/")
        # curl resolves socks5:// names on the laptop, which does not know this one (curl 7.88 says 97).
        self.assertIn(rc, (6, 97), err)
        self.assertIn("Could not resolve host: intranet.corp", err)

    def test_policy_still_applies_in_the_office(self):
        rc, body, err = self.curl("-x", "http://127.0.0.1:8080", "-o", "-", "-w", " %{http_code}", "http://198.18.1.1:22/")
        self.assertTrue(body.endswith(" 403"), body)
        self.assertIn('rule 5 of [policy]: "deny *"', body)

    def test_the_relay_hosts_own_addresses_are_not_reachable(self):
        """`allow *:80` covers any address on port 80, but not the relay host's own: its listen address
        is denied by the built-in `deny self`, as loopback is. (Its egress address, 198.18.2.1, is in
        `allow 198.18.2.0/24:80`, an address rule, which may allow it on purpose.)"""
        for own in ("198.18.1.1",):
            with self.subTest(address=own):
                rc, body, err = self.curl("-x", "http://127.0.0.1:8080", "-o", "-", "-w", " %{http_code}",
                                          "http://%s/" % own)
                self.assertTrue(body.endswith(" 403"), body)
                self.assertIn("deny self (built-in)", body)

    def test_a_search_domain_does_not_get_around_a_name_rule(self):
        """`deny secret.corp.test` holds for a request for `secret` although the office's resolv.conf
        says `search corp.test`: the relay resolves the name it checked, not a longer one."""
        rc, body, err = self.curl("-x", "http://127.0.0.1:8080", "-o", "-", "-w", " %{http_code}", "http://secret/")
        self.assertNotIn("intranet page", body)
        self.assertTrue(body.endswith(" 502"), body)
        self.assertIn("resolve", body)
        self.assertFalse([l for l in self.dns.lines if "secret.corp.test" in l], "\n".join(self.dns.lines))
        # The full name is denied by its rule, as written.
        rc, body, err = self.curl("-x", "http://127.0.0.1:8080", "-o", "-", "-w", " %{http_code}", "http://secret.corp.test/")
        self.assertTrue(body.endswith(" 403"), body)

    def test_an_unlisted_agent_gets_nothing(self):
        d = self.dir + "/stranger"
        os.makedirs(d)
        subprocess.run([AGENT, "keygen", "--out", d + "/agent.key"], check=True, capture_output=True)
        with open(d + "/agent.toml", "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "198.18.1.1:7443"\npublic_key = "%s"\n'
                    '[http]\nlisten = "127.0.0.1:8081"\n' % self.relay_pub)
        stranger = Daemon(ns(LAPTOP, AGENT, "--config", d + "/agent.toml"))
        try:
            stranger.listening(1)
            rc, body, err = self.curl("-x", "http://127.0.0.1:8081", "-o", "-", "-w", " %{http_code}", "http://intranet.corp/")
            self.assertTrue(body.endswith(" 502"), body)
            self.assertIn("relay is unreachable", body)
            self.assertNotIn("intranet page", body)
        finally:
            stranger.stop()


if __name__ == "__main__":
    unittest.main()
