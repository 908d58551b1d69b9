"""End to end with real clients: curl in every proxy scheme against both agent ports, HTTPS through
CONNECT and socks5h, keep-alive and pipelining across origins, half-close, policy denials, an unlisted
key, egress_bind, the idle timeout, reload and bad input. Run: python3 -m unittest tests/e2e/test_proxy.py
"""
import contextlib
import hashlib
import os
import shutil
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Daemon, Ferry, Target, TargetHandler, curl, raw  # noqa: E402

SCHEMES = ["http", "socks4", "socks4a", "socks5", "socks5h"]


class Proxying(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls_dir = tempfile.mkdtemp(prefix="ferry-tls-")
        TargetHandler.big = os.urandom(8 << 20)
        cls.target = Target(tls_dir=cls.tls_dir)
        t = cls.target
        cls.ferry = Ferry(["allow 127.0.0.1:%d" % t.port, "allow 127.0.0.1:%d" % t.tls_port,
                           "allow localhost:%d" % t.port, "deny 127.0.0.1:9"],
                          relay_extra='egress_bind = "127.0.0.2"\n')

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        cls.target.close()
        shutil.rmtree(cls.tls_dir, ignore_errors=True)

    def url(self, path="/hello"):
        return "http://127.0.0.1:%d%s" % (self.target.port, path)

    def test_every_scheme_on_both_ports(self):
        for port in (self.ferry.http_port, self.ferry.socks_port):
            for scheme in SCHEMES:
                with self.subTest(scheme=scheme, port=port):
                    rc, body, err = curl("-x", "%s://127.0.0.1:%d" % (scheme, port), self.url("/hello"))
                    self.assertEqual(rc, 0, err)
                    self.assertEqual(body, b"hello from the target at /hello")

    def test_target_sees_the_egress_address(self):
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, self.url("/whoami"))
        self.assertEqual((rc, body), (0, b"127.0.0.2"), err)

    def test_https_through_connect_and_socks5h(self):
        https = "https://127.0.0.1:%d/tls" % self.target.tls_port
        for proxy in ("http://127.0.0.1:%d" % self.ferry.http_port, "socks5h://127.0.0.1:%d" % self.ferry.socks_port):
            with self.subTest(proxy=proxy):
                rc, body, err = curl("--cacert", self.target.cert, "-x", proxy, https)
                self.assertEqual(rc, 0, err)
                self.assertEqual(body, b"hello from the target at /tls")

    def test_big_download_and_upload_intact(self):
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, self.url("/big"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(TargetHandler.big).hexdigest())
        upload = os.path.join(self.ferry.dir, "upload.bin")
        with open(upload, "wb") as f:
            f.write(os.urandom(3 << 20))
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, "--data-binary", "@" + upload,
                             self.url("/post"))
        self.assertEqual((rc, body), (0, b"got %d bytes" % (3 << 20)), err)

    def test_keep_alive_and_pipelining_across_origins(self):
        t = self.target.port
        reqs = (b"GET http://127.0.0.1:%d/one HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (t, t) +
                b"GET http://localhost:%d/two HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (t, t) +
                b"GET http://127.0.0.1:%d/chunked HTTP/1.1\r\nHost: x\r\n\r\n" % t +
                b"GET http://127.0.0.1:%d/three HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % t)
        out = raw(self.ferry.http_port, reqs, read_timeout=10)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 4, out)
        for needle in (b"target at /one", b"target at /two", b"chunk-one ", b"chunk-three", b"target at /three"):
            self.assertIn(needle, out)
        self.assertLess(out.index(b"/one"), out.index(b"/two"))
        self.assertLess(out.index(b"/two"), out.index(b"chunk-one"))
        self.assertLess(out.index(b"chunk-three"), out.index(b"/three"))

    def test_forwarded_request_and_response_are_rewritten(self):
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-H", "Proxy-Connection: keep-alive",
                             "-D", "-", self.url("/headers"))
        self.assertEqual(rc, 0, err)
        head, _, sent = body.partition(b"\r\n\r\n")
        self.assertIn(b"Via: 1.1 ferry", sent)          # the origin saw Via, and no Proxy-Connection
        self.assertNotIn(b"Proxy-Connection", sent)
        self.assertIn(b"\r\nVia: 1.1 ferry", head)       # and so did the client, on the response

    def test_half_close_is_carried_through(self):
        # A SOCKS5 client sends its request and shuts down its write side; the response still arrives.
        t = self.target.port
        greeting = b"\x05\x01\x00"
        request = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + t.to_bytes(2, "big")
        http = b"GET /half HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        out = raw(self.ferry.socks_port, greeting + request + http, read_timeout=10, half_close=True)
        self.assertTrue(out.startswith(b"\x05\x00\x05\x00"), out[:16])
        self.assertIn(b"hello from the target at /half", out)

    def test_policy_denial_names_the_rule(self):
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-o", "-", "-w", "%{http_code}",
                             "http://127.0.0.1:9/")
        self.assertTrue(body.endswith(b"403"), body)
        self.assertIn(b'rule 4 of [policy]: \\"deny 127.0.0.1:9\\"'.replace(b"\\", b""), body)
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, "http://127.0.0.1:22/")
        self.assertEqual(rc, 97, err)  # curl: SOCKS5 "connection not allowed by ruleset" (REP 0x02)
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-o", "-", "-w", "%{http_code}",
                             "http://localhost:22/")
        self.assertIn(b"deny loopback (built-in)", body)
        self.assertTrue(body.endswith(b"403"))
        self.assertIn('"result":"denied by policy"', self.ferry.audit())

    def test_name_that_does_not_resolve_at_the_relay(self):
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-o", "-", "-w", "%{http_code}",
                             "http://no-such-host.invalid/")
        self.assertTrue(body.endswith(b"502"), body)
        self.assertIn(b"name not resolved", body)
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, "http://no-such-host.invalid/")
        self.assertEqual(rc, 97, err)  # curl reports REP 0x04 host unreachable this way too

    def test_bad_input_gets_errors_and_the_agent_keeps_serving(self):
        port = self.ferry.http_port
        self.assertTrue(raw(port, b"GET http://x/ HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (1 << 20) + b"\r\n\r\n")
                        .startswith(b"HTTP/1.1 431"))
        smuggle = b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" % self.target.port
        self.assertTrue(raw(port, smuggle).startswith(b"HTTP/1.1 400"))
        self.assertTrue(raw(port, b"GET http://x/ HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertEqual(raw(port, b"\x05\x00"), b"\x05\xff")  # SOCKS5 with no methods... or none acceptable
        self.assertEqual(raw(port, os.urandom(4096).replace(b"\x05", b"\x06").replace(b"\x04", b"\x06"), read_timeout=3)[:8], b"HTTP/1.1")
        with contextlib.ExitStack() as idle:  # closes every socket opened so far, whatever fails
            for _ in range(1000):
                idle.enter_context(socket.create_connection(("127.0.0.1", port)))
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % port, self.url("/still"))
            self.assertEqual((rc, body), (0, b"hello from the target at /still"), err)

    def test_relay_port_battery_then_service_as_usual(self):
        def rss_kib(pid):
            with open("/proc/%d/status" % pid) as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
        relay_before, agent_before = rss_kib(self.ferry.relay.proc.pid), rss_kib(self.ferry.agent.proc.pid)
        port = self.ferry.relay_port
        for _ in range(10):
            raw(port, os.urandom(64 << 10), read_timeout=1)                  # random bytes
        raw(port, b"\x00\x6e" + os.urandom(50), read_timeout=1)            # a truncated message 1
        raw(port, b"\xff\xff" + os.urandom(1000), read_timeout=1)          # an oversized record
        raw(port, b"\x00\x00", read_timeout=1)                              # an empty record
        with contextlib.ExitStack() as idle:  # closes every socket opened so far, whatever fails
            for _ in range(1000):                                            # 1,000 sockets that never speak
                try:
                    idle.enter_context(socket.create_connection(("127.0.0.1", port), timeout=2))
                except OSError:
                    break
            for a in range(1000):                                            # and 1,000 at the agent's port
                idle.enter_context(socket.create_connection(("127.0.0.1", self.ferry.socks_port), timeout=15))
            rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, self.url("/after-battery"))
            self.assertEqual((rc, body), (0, b"hello from the target at /after-battery"), err)
        relay_growth = rss_kib(self.ferry.relay.proc.pid) - relay_before
        agent_growth = rss_kib(self.ferry.agent.proc.pid) - agent_before
        # The stated bound: the battery costs each process less than 32 MiB.
        self.assertLess(relay_growth, 32 << 10, "relay grew by %d KiB" % relay_growth)
        self.assertLess(agent_growth, 32 << 10, "agent grew by %d KiB" % agent_growth)
        self.assertRegex("\n".join(self.ferry.relay.lines), r"handshake from \S+ refused")

    def test_status_page_and_command(self):
        rc, body, err = curl("http://127.0.0.1:%d/status" % self.ferry.http_port)
        self.assertEqual(rc, 0, err)
        self.assertIn(b'"link":"up"', body)
        # The agent was started on port 0; `status` reads the port from its config, so give it the real one.
        with open(self.ferry.path("agent.toml")) as f:
            config = f.read().replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:%d"' % self.ferry.http_port, 1)
        self.ferry.write("status.toml", config)
        out = subprocess.run([AGENT, "status", "--config", self.ferry.path("status.toml")], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"link:\s+up")
        self.assertIn("127.0.0.1:%d" % self.ferry.relay_port, out.stdout)


    def test_status_answers_only_its_own_host(self):
        # DNS rebinding: a web page whose name now resolves to 127.0.0.1 sends that name as its Host.
        url = "http://127.0.0.1:%d/status" % self.ferry.http_port
        for host in ("evil.example", "evil.example:%d" % self.ferry.http_port):
            with self.subTest(host=host):
                rc, body, err = curl("-o", "-", "-w", "%{http_code}", "-H", "Host: " + host, url)
                self.assertEqual(rc, 0, err)
                self.assertTrue(body.endswith(b"421"), body)
                self.assertNotIn(b'"link"', body)
        rc, body, err = curl("-H", "Host: localhost:%d" % self.ferry.http_port, url)
        self.assertEqual(rc, 0, err)
        self.assertIn(b'"link":"up"', body)


class Upgrade(unittest.TestCase):
    def setUp(self):
        self.target = Target()
        self.ferry = Ferry(["allow 127.0.0.1:%d" % self.target.port])

    def tearDown(self):
        self.ferry.close()
        self.target.close()

    def test_upgrade_passes_through_as_a_tunnel(self):
        t = self.target.port
        with socket.create_connection(("127.0.0.1", self.ferry.http_port), timeout=10) as s:
            s.sendall(b"GET http://127.0.0.1:%d/upgrade HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                      b"Upgrade: echo\r\n\r\n" % t)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            for msg in (b"ping 1", b"ping 2 " * 1000):
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    got += s.recv(65536)
                self.assertEqual(got, msg)


class LocalAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.target = Target()
        cls.ferry = Ferry(["allow 127.0.0.1:%d" % cls.target.port],
                          agent_extra='[auth]\nusername = "me"\npassword = "s3cret"\n')

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        cls.target.close()

    def url(self):
        return "http://127.0.0.1:%d/auth" % self.target.port

    def test_socks5_username_password(self):
        rc, body, err = curl("-x", "socks5h://me:s3cret@127.0.0.1:%d" % self.ferry.socks_port, self.url())
        self.assertEqual((rc, body), (0, b"hello from the target at /auth"), err)
        rc, body, err = curl("-x", "socks5h://me:wrong@127.0.0.1:%d" % self.ferry.socks_port, self.url())
        self.assertNotEqual(rc, 0)
        self.assertEqual(body, b"")
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, self.url())  # no auth offered
        self.assertNotEqual(rc, 0)

    def test_http_proxy_authorization(self):
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-D", "-", self.url())
        self.assertIn(b"407", body.split(b"\r\n")[0])
        self.assertIn(b'Proxy-Authenticate: Basic realm="ferry"', body)
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-U", "me:s3cret", self.url())
        self.assertEqual((rc, body), (0, b"hello from the target at /auth"), err)
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-U", "me:s3cret", "-p", self.url())
        self.assertEqual((rc, body), (0, b"hello from the target at /auth"), err)

    def test_socks4_cannot_authenticate_and_is_refused(self):
        rc, body, err = curl("-x", "socks4a://127.0.0.1:%d" % self.ferry.socks_port, self.url())
        self.assertNotEqual(rc, 0)
        self.assertEqual(body, b"")


class Admission(unittest.TestCase):
    def setUp(self):
        self.target = Target()
        # No idle timeout of 1 s here: it would close the tunnels that the limit test holds open.
        self.ferry = Ferry(["allow 127.0.0.1:%d" % self.target.port],
                           limits="max_streams_per_agent = 3\n",
                           relay_extra='admin_listen = "127.0.0.1:0"\n')

    def tearDown(self):
        self.ferry.close()
        self.target.close()

    def test_unlisted_key_gets_no_service(self):
        other = os.path.join(self.ferry.dir, "other")
        os.mkdir(other)
        subprocess.run([AGENT, "keygen", "--out", os.path.join(other, "agent.key")], check=True, capture_output=True)
        with open(os.path.join(other, "agent.toml"), "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:%d"\npublic_key = "%s"\n'
                    '[http]\nlisten = "127.0.0.1:0"\n' % (self.ferry.relay_port, self.ferry.relay_pub))
        stranger = Daemon([AGENT, "--config", os.path.join(other, "agent.toml")])
        try:
            (_, port), = stranger.listening(1)
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % port, "-o", "-", "-w", "%{http_code}",
                                 "http://127.0.0.1:%d/" % self.target.port)
            self.assertTrue(body.endswith(b"502"), body)
            self.assertIn(b"relay is unreachable", body)
            self.ferry.relay.wait_for(r"refused: refused: the initiator's key is not admitted")
        finally:
            stranger.stop()
        # The listed agent still works.
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "http://127.0.0.1:%d/ok" % self.target.port)
        self.assertEqual((rc, body), (0, b"hello from the target at /ok"), err)

    def test_idle_timeout_closes_a_silent_stream(self):
        ferry = Ferry(["allow 127.0.0.1:%d" % self.target.port], limits="idle_timeout_s = 1\n")
        self.addCleanup(ferry.close)
        with socket.create_connection(("127.0.0.1", ferry.http_port), timeout=10) as s:
            start = time.time()  # the relay's idle timer starts later, once the dial succeeds
            s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.target.port)
            self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200"))
            try:  # the relay resets the idle stream (1 s); the agent passes the reset on
                self.assertEqual(s.recv(1024), b"")
            except ConnectionResetError:
                pass
            self.assertLess(time.time() - start, 10)
            self.assertGreater(time.time() - start, 0.9)

    def test_reload_revokes_and_readmits(self):
        relay_toml = self.ferry.path("relay.toml")
        with open(relay_toml) as f:
            original = f.read()
        with open(relay_toml, "w") as f:
            f.write(original.split("[[agents]]")[0])
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        self.ferry.relay.wait_for(r"reloaded: 0 agents, 1 revoked")
        self.ferry.agent.wait_for(r"link down: closed: the peer revoked this key")
        with open(relay_toml, "w") as f:
            f.write(original)
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        self.ferry.relay.wait_for(r"reloaded: 1 agents, 0 revoked")
        deadline = time.time() + 40
        while time.time() < deadline:
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "http://127.0.0.1:%d/back" % self.target.port)
            if rc == 0 and body == b"hello from the target at /back":
                break
            time.sleep(0.5)
        self.assertEqual(body, b"hello from the target at /back")

    def test_sighup_reopens_a_rotated_audit_log(self):
        audit = self.ferry.path("audit.jsonl")

        def request_and_wait_for_record(path, records_before):
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port,
                                 "http://127.0.0.1:%d%s" % (self.target.port, path))
            self.assertEqual(rc, 0, err)
            deadline = time.time() + 10
            while self.ferry.audit().count("\n") == records_before:
                self.assertLess(time.time(), deadline, "no audit record")
                time.sleep(0.05)

        request_and_wait_for_record("/before", self.ferry.audit().count("\n"))
        os.rename(audit, audit + ".1")  # what logrotate does, then it sends SIGHUP
        with open(audit + ".1") as f:
            rotated = f.read()
        reloads = sum("reloaded:" in line for line in self.ferry.relay.lines)
        self.ferry.relay.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while sum("reloaded:" in line for line in self.ferry.relay.lines) == reloads:
            self.assertLess(time.time(), deadline, "no reload")
            time.sleep(0.05)
        request_and_wait_for_record("/after", 0)
        fresh = self.ferry.audit().splitlines()
        self.assertEqual(len(fresh), 1, fresh)
        self.assertIn('"result":"connected"', fresh[0])
        with open(audit + ".1") as f:
            self.assertEqual(f.read(), rotated)  # nothing more went to the rotated file

    def test_reload_renames_an_agent_on_its_open_link(self):
        # Same key, new name and rules of its own: the link that is up (not reconnected) gets them.
        # Each worker applies a reload on its own loop, so the answer is awaited, within 10 s.
        relay_toml = self.ferry.path("relay.toml")
        with open(relay_toml) as f:
            original = f.read()
        head, entry = original.split("[[agents]]")
        renamed = re.sub(r'name = "[^"]*"', 'name = "renamed"', entry).rstrip("\n") + '\nrules = ["deny *"]\n'

        def reload_until(text, path, done):
            with open(relay_toml, "w") as f:
                f.write(text)
            self.ferry.relay.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while True:
                rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-o", "-", "-w", " %{http_code}",
                                     "http://127.0.0.1:%d%s" % (self.target.port, path))
                if done(body) or time.time() > deadline:
                    return body
                time.sleep(0.1)

        try:
            body = reload_until(head + "[[agents]]" + renamed, "/renamed", lambda b: b.endswith(b" 403"))
            self.assertTrue(body.endswith(b" 403"), body)
            self.assertIn(b'agent "renamed"', body)
        finally:
            body = reload_until(original, "/again", lambda b: b.endswith(b" 200"))
        self.assertEqual(body, b"hello from the target at /again 200")

    def test_streams_beyond_the_agent_limit_are_refused(self):
        with contextlib.ExitStack() as tunnels:  # a tunnel is closed even if its CONNECT fails
            for _ in range(3):
                s = tunnels.enter_context(socket.create_connection(("127.0.0.1", self.ferry.http_port), timeout=10))
                s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.target.port)
                self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200"))
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "-o", "-", "-w", " %{http_code}",
                                 "http://127.0.0.1:%d/fourth" % self.target.port)
            self.assertTrue(body.endswith(b" 503"), body)
            self.assertIn(b"max_streams_per_agent", body)
        deadline = time.time() + 10
        while time.time() < deadline:  # the relay counts the closed streams down, then serves again
            rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "http://127.0.0.1:%d/again" % self.target.port)
            if body == b"hello from the target at /again":
                break
            time.sleep(0.2)
        self.assertEqual(body, b"hello from the target at /again")

    def test_metrics_and_healthz_reflect_what_happened(self):
        admin = self.ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        proxy = "http://127.0.0.1:%d" % self.ferry.http_port
        self.assertEqual(curl("-x", proxy, "http://127.0.0.1:%d/m" % self.target.port)[0], 0)
        curl("-x", proxy, "http://127.0.0.1:1/")  # denied by the built-in loopback rule
        rc, body, err = curl("http://%s/healthz" % admin)
        self.assertEqual((rc, body), (0, b"ok\n"), err)
        rc, body, err = curl("http://%s/metrics" % admin)
        self.assertEqual(rc, 0, err)
        text = body.decode()
        self.assertIn("ferry_links %d\n" % self.ferry.links, text)  # the agent's pool, every link up
        self.assertRegex(text, r'ferry_dials_total\{result="ok"\} [1-9]')
        self.assertRegex(text, r'ferry_dials_total\{result="denied"\} [1-9]')
        self.assertRegex(text, r'ferry_dial_seconds_count [1-9]')
        self.assertRegex(text, r'ferry_bytes_total\{direction="down"\} [1-9]')

    def test_sigterm_drains_open_streams_then_exits_zero(self):
        admin = self.ferry.relay.wait_for(r"admin listening on (\S+)").group(1)
        rc, body, err = curl("-i", "http://%s/health" % admin)
        self.assertEqual(rc, 0, err)
        self.assertTrue(body.startswith(b"HTTP/1.1 200 ") and body.endswith(b"\r\n\r\nserving\n"), body)
        with socket.create_connection(("127.0.0.1", self.ferry.http_port), timeout=10) as s:
            s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.target.port)
            self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200"))
            self.ferry.relay.proc.send_signal(signal.SIGTERM)
            self.ferry.relay.wait_for(r"draining")
            # A load balancer's health check says so (new links go elsewhere); liveness stays 200.
            rc, body, err = curl("-i", "http://%s/health" % admin)
            self.assertEqual(rc, 0, err)
            self.assertTrue(body.startswith(b"HTTP/1.1 503 "), body)
            self.assertIn(b"draining", body)
            self.assertEqual(curl("http://%s/healthz" % admin)[1], b"ok\n")
            # The open stream still works while the relay drains.
            s.sendall(b"GET /during-drain HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"/during-drain" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            self.assertIn(b"hello from the target at /during-drain", got)
        self.assertEqual(self.ferry.relay.proc.wait(15), 0)


if __name__ == "__main__":
    unittest.main()
