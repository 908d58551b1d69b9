"""The first byte in one round trip for warm targets (issue 21, item 1; docs/spec.md 6.11).

In a network namespace of its own, the relay resolves names through a tiny name server that answers
*.slow.test 400 ms late, so that the relay's answer to an OPEN takes that long, as it would from an
office 400 ms away. The agent answers a SOCKS5 or CONNECT client at once for a target it reached
through the relay in the last 10 minutes, and the client's first bytes ride behind the OPEN; a cold
target, an agent with early_reply = "never", and SOCKS4 still wait for the relay's real answer. A warm
target that the relay then refuses has its client reset (SOCKS5) or closed (CONNECT), and is cold
again; a policy reload on the relay makes every target cold. Plain HTTP requests never wait: errors still come as pages. Needs root (CI runs as root);
skips with the reason where namespaces cannot be created.
Run: python3 -m unittest tests/e2e/test_early_reply.py
"""
import hashlib
import json
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
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import fd_count, wait_until  # noqa: E402
from harness import AGENT, RELAY, Daemon  # noqa: E402

NS = "ferryearly%d" % os.getpid()
SLOW_MS = 400
# Answers a POST with the sha256 of its body, a GET with "hello"; one HTTP server per port given.
TARGET = textwrap.dedent("""
    import hashlib, http.server, sys, threading
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def answer(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def do_GET(self):
            self.answer(b"hello")
        def do_POST(self):
            n = int(self.headers["Content-Length"])
            self.answer(hashlib.sha256(self.rfile.read(n)).hexdigest().encode())
    servers = [http.server.ThreadingHTTPServer(("127.0.0.5", int(p)), H) for p in sys.argv[1:]]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", file=sys.stderr, flush=True)
    threading.Event().wait()
""")
PROBE = os.path.join(os.path.dirname(__file__), "proxy_probe.py")


def ns(*cmd):
    return ["ip", "netns", "exec", NS] + list(cmd)


class EarlyReply(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root (CI runs as root)")
        try:
            subprocess.run(["ip", "netns", "add", NS], check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise unittest.SkipTest("cannot create network namespaces here: %s" % e)
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-early-")
        try:
            subprocess.run(ns("ip", "link", "set", "lo", "up"), check=True, capture_output=True)
            os.makedirs("/etc/netns/" + NS, exist_ok=True)
            with open("/etc/netns/%s/resolv.conf" % NS, "w") as f:
                f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
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
        keys = {who: keygen(AGENT, who + ".key") for who in ("warm", "never")}
        with open(d + "/relay.toml", "w") as f:
            f.write('listen = "127.0.0.1:7443"\nprivate_key_file = "relay.key"\n'
                    'audit_log = "audit.log"\n'
                    '[policy]\nrules = ["deny denied.slow.test", "allow 127.0.0.5:8080", "allow 127.0.0.5:8081", "allow 127.0.0.5:8082", "allow *"]\n' +
                    "".join('[[agents]]\nname = "%s"\npublic_key = "%s"\n' % (who, k) for who, k in keys.items()))
        for who, socks, http, early in (("warm", 1080, 3128, "warm"), ("never", 1081, 3129, "never")):
            with open("%s/%s.toml" % (d, who), "w") as f:
                f.write('private_key_file = "%s.key"\n[relay]\naddress = "127.0.0.1:7443"\npublic_key = "%s"\n'
                        '[socks]\nlisten = "127.0.0.1:%d"\nearly_reply = "%s"\n'
                        '[http]\nlisten = "127.0.0.1:%d"\nearly_reply = "%s"\n' % (who, relay_pub, socks, early,
                                                                                 http, early))
        names = ["%s.slow.test=127.0.0.5" % n for n in ("a", "b", "c", "d", "e", "f", "left", "flaky", "gone", "denied")]
        cls.target = Daemon(ns(sys.executable, "-c", TARGET, "8080"))
        cls.flaky = Daemon(ns(sys.executable, "-c", TARGET, "8081"))
        dns = Daemon(ns(sys.executable, os.path.join(os.path.dirname(__file__), "tiny_dns.py"), "127.0.0.1",
                        "--slow", "slow.test=%d" % SLOW_MS, *names))
        for daemon in (cls.target, cls.flaky, dns):
            cls.daemons.append(daemon)
            daemon.wait_for(r"^ready$")
        cls.relay = Daemon(ns(RELAY, "--config", d + "/relay.toml"))
        cls.daemons.append(cls.relay)
        cls.relay.listening(1)
        cls.agent = Daemon(ns(AGENT, "--config", d + "/warm.toml"))
        cls.never = Daemon(ns(AGENT, "--config", d + "/never.toml"))
        for a in (cls.agent, cls.never):
            cls.daemons.append(a)
            a.wait_for("link 2 of 2 up")

    @classmethod
    def tearDownClass(cls):
        for daemon in getattr(cls, "daemons", []):
            daemon.stop(timeout=10)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree("/etc/netns/" + NS, ignore_errors=True)
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def probe(self, kind, port, host, target_port=8080, body=100, pause_ms=0, leave=None):
        p = subprocess.run(ns(sys.executable, PROBE, kind, str(port), host, str(target_port), "--body", str(body),
                              "--pause-ms", str(pause_ms), *(["--leave", leave] if leave else [])),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def status(self, port=3128):
        p = subprocess.run(ns("curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/status" % port),
                           capture_output=True, text=True, timeout=20)
        return json.loads(p.stdout)

    def assert_answered(self, r):
        self.assertEqual(r.get("outcome"), "answer", r)
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["body"], r["sent_sha256"], "the target got the request body intact")

    def test_warm_socks5_and_connect_are_answered_at_once(self):
        for kind, port, host in (("socks5", 1080, "a.slow.test"), ("connect", 3128, "b.slow.test")):
            with self.subTest(kind=kind):
                before = self.status()["early_replies"]
                cold = self.probe(kind, port, host)
                self.assert_answered(cold)
                self.assertGreaterEqual(cold["reply_ms"], SLOW_MS - 20, "a cold target waits for the relay")
                warm = self.probe(kind, port, host)
                self.assert_answered(warm)
                print("%s: cold reply %.0f ms, first byte %.0f ms; warm reply %.0f ms, first byte %.0f ms"
                      % (kind, cold["reply_ms"], cold["first_byte_ms"], warm["reply_ms"], warm["first_byte_ms"]),
                      file=sys.stderr)
                self.assertLess(warm["reply_ms"], 150, "a warm target is answered before the relay")
                # The answer itself still needs the relay's lookup: the early reply saved the client's
                # wait for it before sending, not the lookup.
                self.assertGreaterEqual(warm["first_byte_ms"], SLOW_MS - 20)
                self.assertEqual(self.status()["early_replies"], before + 1)

    def test_more_than_the_early_allowance_follows_at_once(self):
        # 200 KiB right behind the reply: 16 KiB ride as early data, the rest waits for the relay's
        # credit, and every byte arrives in order.
        self.assert_answered(self.probe("socks5", 1080, "c.slow.test"))
        for kind, port in (("socks5", 1080), ("connect", 3128)):
            with self.subTest(kind=kind):
                r = self.probe(kind, port, "c.slow.test", body=200 * 1024)
                self.assert_answered(r)
                self.assertLess(r["reply_ms"], 150)

    def test_never_and_socks4_wait_for_the_relay(self):
        self.assert_answered(self.probe("socks5", 1081, "d.slow.test"))
        for kind, port in (("socks5", 1081), ("connect", 3129)):
            with self.subTest(kind=kind):
                r = self.probe(kind, port, "d.slow.test")
                self.assert_answered(r)
                self.assertGreaterEqual(r["reply_ms"], SLOW_MS - 20, "early_reply = never")
        self.assertEqual(self.status(3129)["early_replies"], 0)

    def test_a_warm_target_the_relay_refuses_is_reset_or_closed_and_cold_again(self):
        self.assert_answered(self.probe("socks5", 1080, "flaky.slow.test", 8081))
        self.assert_answered(self.probe("connect", 3128, "flaky.slow.test", 8081))
        self.flaky.stop()  # the target goes away: the relay's next dial is refused
        self.daemons.remove(self.flaky)
        before = self.status()
        socks = self.probe("socks5", 1080, "flaky.slow.test", 8081)
        self.assertEqual(socks["reply"], "ok", socks)  # answered early
        self.assertLess(socks["reply_ms"], 150)
        self.assertEqual(socks["outcome"], "reset", "a SOCKS5 client told 'succeeded' is reset: %s" % socks)
        self.agent.wait_for(r"flaky\.slow\.test:8081: connection refused .*after an early reply; the connection was reset")
        # The refusal made the target cold: the next SOCKS5 client gets the truth (0x05, refused).
        truthful = self.probe("socks5", 1080, "flaky.slow.test", 8081)
        self.assertEqual((truthful["outcome"], truthful["reply"]), ("refused", 5), truthful)
        self.assertGreaterEqual(truthful["reply_ms"], SLOW_MS - 20)
        # CONNECT: warm it again through the HTTP port (one truthful 502 cools nothing: it was cold).
        self.assertEqual(self.probe("connect", 3128, "flaky.slow.test", 8081)["reply"], 502)
        after = self.status()
        self.assertEqual(after["early_refused"], before["early_refused"] + 1)
        self.assertEqual(after["early_replies"], before["early_replies"] + 1)
        with open(self.dir + "/audit.log") as f:
            audit = [json.loads(l) for l in f if "flaky.slow.test" in l]
        self.assertGreaterEqual(sum(a.get("result") == "connection refused" for a in audit), 3, audit)

    def warm_a_target_that_then_goes(self, kind, port):
        """gone.slow.test:8082 answers once (so it is warm), then its server goes away: the relay's
        next dial there is refused."""
        server = Daemon(ns(sys.executable, "-c", TARGET, "8082"))
        try:
            server.wait_for(r"^ready$")
            self.assert_answered(self.probe(kind, port, "gone.slow.test", 8082))
        finally:
            server.stop(timeout=10)

    def test_clients_that_leave_before_the_relay_answers_an_early_reply(self):
        # Told "connected" at once, the client sends its request and goes (FIN or RST) while the relay
        # still looks the name up, 400 ms; the answer, a success or a refusal, then finds no client.
        # Both programs live on, nothing is left open, and the next client is served.
        fds = lambda: (fd_count(self.agent.proc.pid), fd_count(self.relay.proc.pid))  # noqa: E731
        for kind, port in (("socks5", 1080), ("connect", 3128)):
            self.assert_answered(self.probe(kind, port, "left.slow.test"))  # warm
        before = fds()
        for kind, port in (("socks5", 1080), ("connect", 3128)):
            for leave in ("fin", "rst"):
                with self.subTest(kind=kind, leave=leave, answer="success"):
                    r = self.probe(kind, port, "left.slow.test", leave=leave)
                    self.assertEqual((r["reply"], r["outcome"]), ("ok", "left"), r)
                    self.assertLess(r["reply_ms"], 150, "answered early")
                with self.subTest(kind=kind, leave=leave, answer="refusal"):
                    self.warm_a_target_that_then_goes(kind, port)
                    told = r"gone\.slow\.test:8082: connection refused .*after an early reply"
                    refused = sum(bool(re.search(told, l)) for l in self.agent.lines)
                    r = self.probe(kind, port, "gone.slow.test", 8082, leave=leave)
                    self.assertEqual((r["reply"], r["outcome"]), ("ok", "left"), r)
                    # A client that only half-closed still has its connection: the refusal ends it. One
                    # that reset took its stream with it, and the relay's answer finds nothing to end.
                    if leave == "fin":
                        self.agent.wait_for(told, count=refused + 1)
                    else:
                        time.sleep(SLOW_MS / 1000 + 0.2)
        for daemon in (self.agent, self.relay):
            self.assertIsNone(daemon.proc.poll(), "alive")
        # The last answers come SLOW_MS after the last client left, a closed CONNECT lingers 2 s at most.
        # Then no client is left but the status request itself, and the agent holds exactly the
        # descriptors it held before (the relay's resolver may keep one or two of its own).
        wait_until(lambda: (self.status()["clients"], self.status()["open_streams"]) == (1, 0) or None, 10,
                   "no client session or stream left")
        wait_until(lambda: (fds()[0] <= before[0] and fds()[1] <= before[1] + 2) or None, 10,
                   "descriptors back to %s" % (before,))
        for kind, port in (("socks5", 1080), ("connect", 3128)):
            self.assert_answered(self.probe(kind, port, "left.slow.test"))

    def test_a_connect_client_is_closed_when_the_relay_refuses_after_an_early_reply(self):
        # A warm target whose server went away: the next CONNECT is answered 200 early, then closed
        # when the relay's refusal comes; the one after it gets the truthful 502. Twice: with the
        # request right behind the 200 (it may reach the agent before or after the refusal), and sent
        # 300 ms later, surely after it. Either way the client reads EOF, never the RST of a socket
        # closed with its request unread.
        for round_, pause_ms in enumerate((0, 300), start=1):
            with self.subTest(pause_ms=pause_ms):
                self.warm_a_target_that_then_goes("connect", 3128)
                r = self.probe("connect", 3128, "gone.slow.test", 8082, pause_ms=pause_ms)
                self.assertEqual(r["reply"], "ok", r)
                self.assertLess(r["reply_ms"], 150)
                self.assertEqual((r["outcome"], r.get("got")), ("eof", 0), "closed, never a byte: %s" % r)
                self.agent.wait_for(r"gone\.slow\.test:8082: connection refused .*after an early reply; the "
                                    r"connection was closed", count=round_)
                again = self.probe("connect", 3128, "gone.slow.test", 8082)
                self.assertEqual(again["reply"], 502, again)

    def test_a_policy_reload_makes_warm_targets_cold(self):
        # The relay's version of what it publishes covers its policy: a reload that denies a warm
        # target changes it, and the agent, holding the new version, tells the next client the truth
        # (403) instead of "connected" first. A reload that changes nothing keeps the version.
        self.assert_answered(self.probe("connect", 3128, "e.slow.test"))
        with open(self.dir + "/relay.toml") as f:
            conf = f.read()
        pushed = r"routes from the relay: 0 \(version ([0-9a-f]{8})\)"

        def reload(text):
            reloads = sum("reloaded" in l for l in self.relay.lines)
            with open(self.dir + "/relay.toml", "w") as f:
                f.write(text)
            self.relay.proc.send_signal(signal.SIGHUP)
            self.relay.wait_for("reloaded", count=reloads + 1)

        versions = sum(bool(re.search(pushed, l)) for l in self.agent.lines)
        before = self.status()
        try:
            reload(conf.replace('"deny denied.slow.test"', '"deny denied.slow.test", "deny e.slow.test"'))
            # Both links hear it; the first push is enough for the agent's version.
            self.agent.wait_for(pushed, count=versions + 1)
            self.assertNotEqual(self.status()["routes_version"], before["routes_version"])
            r = self.probe("connect", 3128, "e.slow.test")
            self.assertEqual(r["reply"], 403, r)
            after = self.status()
            self.assertEqual((after["early_replies"], after["early_refused"]),
                             (before["early_replies"], before["early_refused"]), "no early reply, nothing to take back")
        finally:
            reload(conf)
        self.agent.wait_for(pushed, count=versions + 2)
        self.assertEqual(self.status()["routes_version"], before["routes_version"], "the same policy, the same version")

    def test_plain_http_never_waits_and_errors_are_still_pages(self):
        r = self.probe("http", 3128, "f.slow.test", body=64 * 1024)
        self.assert_answered(r)
        for host, status in (("denied.slow.test", 403), ("nowhere.slow.test", 502)):
            with self.subTest(host=host):
                r = self.probe("http", 3128, host)
                self.assertEqual((r.get("outcome"), r.get("status")), ("answer", status), r)


if __name__ == "__main__":
    unittest.main()
