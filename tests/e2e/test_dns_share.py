"""One agent whose names never resolve must not starve another agent's lookups (ctest label "e2e").

The relay resolves names on libuv's thread pool (256 threads), shared by every agent. In a network
namespace with its own resolver (a tiny DNS server that never answers *.hang.test), an agent that
keeps reconnecting and asking for hanging names leaves lookups running on the relay after each of its
links has gone. Its share is bounded across its links, old ones included, and every lookup ends
within a few seconds; another agent's resolvable name is answered within 1 s of its usual time.
Needs root (CI runs as root); skips with the reason where namespaces cannot be created.
Run: python3 -m unittest tests/e2e/test_dns_share.py
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon  # noqa: E402

NS = "ferrydns%d" % os.getpid()
TARGET = textwrap.dedent("""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            body = b"resolved and reached"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    s = http.server.ThreadingHTTPServer(("127.0.0.5", 8080), H)
    print("ready", file=sys.stderr, flush=True)
    s.serve_forever()
""")


def ns(*cmd):
    return ["ip", "netns", "exec", NS] + list(cmd)


class DnsShare(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root (CI runs as root)")
        try:
            subprocess.run(["ip", "netns", "add", NS], check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise unittest.SkipTest("cannot create network namespaces here: %s" % e)
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-dns-")
        try:
            subprocess.run(ns("ip", "link", "set", "lo", "up"), check=True, capture_output=True)
            os.makedirs("/etc/netns/" + NS, exist_ok=True)
            with open("/etc/netns/%s/resolv.conf" % NS, "w") as f:
                f.write("nameserver 127.0.0.1\n")
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        d = cls.dir
        def keygen(binary, name):
            return subprocess.run([binary, "keygen", "--out", d + "/" + name], check=True, capture_output=True,
                                  text=True).stdout.strip()
        relay_pub = keygen(RELAY, "relay.key")
        keys = {who: keygen(AGENT, who + ".key") for who in ("alice", "mallory")}
        with open(d + "/relay.toml", "w") as f:
            f.write('listen = "127.0.0.1:7443"\nprivate_key_file = "relay.key"\n'
                    '[policy]\nrules = ["allow 127.0.0.0/8:8080", "allow *"]\n' +
                    "".join('[[agents]]\nname = "%s"\npublic_key = "%s"\n' % (who, k) for who, k in keys.items()))
        for who, port in (("alice", 1080), ("mallory", 1081)):
            with open("%s/%s.toml" % (d, who), "w") as f:
                f.write('private_key_file = "%s.key"\n[relay]\naddress = "127.0.0.1:7443"\npublic_key = "%s"\n'
                        '[socks]\nlisten = "127.0.0.1:%d"\n' % (who, relay_pub, port))
        for argv in ([sys.executable, "-c", TARGET],
                     [sys.executable, os.path.join(os.path.dirname(__file__), "tiny_dns.py"), "127.0.0.1",
                      "--drop", "hang.test", "good.test=127.0.0.5"]):
            daemon = Daemon(ns(*argv))
            cls.daemons.append(daemon)
            daemon.wait_for(r"^ready$")
        cls.relay = Daemon(ns(RELAY, "--config", d + "/relay.toml"))
        cls.daemons.append(cls.relay)
        cls.relay.listening(1)
        cls.alice = Daemon(ns(AGENT, "--config", d + "/alice.toml"))
        cls.daemons.append(cls.alice)
        cls.alice.wait_for("link up")

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", []):
            daemon.stop(timeout=10)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree("/etc/netns/" + NS, ignore_errors=True)
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def alice_fetch(self):
        """Seconds alice's agent takes for a page at a name the office resolves."""
        started = time.time()
        p = subprocess.run(ns("curl", "-sS", "--max-time", "30", "-x", "socks5h://127.0.0.1:1080",
                              "http://good.test:8080/"), capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout), (0, "resolved and reached"), p.stderr)
        return time.time() - started

    def mallory_round(self, names):
        """Mallory's agent comes up, asks for `names` hanging names, and is killed: its links go, the
        relay's lookups for them stay."""
        mallory = Daemon(ns(AGENT, "--config", self.dir + "/mallory.toml"))
        try:
            mallory.wait_for("link 2 of 2 up")
            # SOCKS requests are sent from inside the namespace by a helper process, without waiting.
            script = ("import socket,sys\nconns=[]\nfor i in range(%d):\n"
                      "  s=socket.create_connection(('127.0.0.1',1081))\n"
                      "  n=b'h%%d-%%d.hang.test' %% (%d, i)\n"
                      "  s.sendall(b'\\x05\\x01\\x00\\x05\\x01\\x00\\x03'+bytes([len(n)])+n+b'\\x00\\x50')\n"
                      "  conns.append(s)\nimport time; time.sleep(0.3)\n") % (names, self.round)
            subprocess.run(ns(sys.executable, "-c", script), check=True, capture_output=True, timeout=30)
        finally:
            mallory.proc.send_signal(signal.SIGKILL)
            mallory.stop()
        self.round += 1

    def test_hanging_names_of_one_agent_do_not_delay_another_agents_lookup(self):
        self.round = 0
        usual = min(self.alice_fetch() for _ in range(3))
        started = time.time()
        for _ in range(12):  # 12 x 2 links x 16 lookups each: more than the relay's 256 threads
            self.mallory_round(40)
        during = self.alice_fetch()
        print("alice: %.3f s usually, %.3f s with mallory's hanging lookups (%.1f s of churn)"
              % (usual, during, time.time() - started), file=sys.stderr)
        self.assertLess(during, usual + 1.0)
        hung = sum("hang.test" in l for l in self.daemons[1].lines)
        self.assertGreater(hung, 0, "mallory's names never reached the name server")


if __name__ == "__main__":
    unittest.main()
