"""Split mode (agent.toml `[routes] direct_outside = true`): targets the routes list go through the
relay, every other one is dialled by the agent itself, from the laptop.

On loopback the relay dials from egress_bind 127.0.0.3, so a target's /whoami tells the two ways
apart: 127.0.0.3 through the office, 127.0.0.1 directly. The routes list 127.0.0.2 (a target there
is "in the office"); a target on 127.0.0.1 is outside. Every front end (SOCKS5, CONNECT, forwarded
HTTP) is checked, bulk bytes both ways, and the faults of a direct connection: a target that
refuses, resets mid-download or never resolves, a client that vanishes mid-transfer. Before the relay
has pushed its routes nothing goes direct (it fails closed).

In network namespaces (root only), curl with nothing but a global http_proxy/ALL_PROXY reaches a
listed office-only name through the office (the target sees 198.18.2.1) and an unlisted one from
the laptop (it sees 198.18.1.2).
"""
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import BLOCK, Echo, ResetsMidDownload, Source, fd_count, recv_exactly, serve, wait_until  # noqa: E402
from harness import AGENT, RELAY, Daemon, Ferry, Target, TargetHandler, curl  # noqa: E402
from netns_kit import Network, ns, who_asked_server  # noqa: E402

SANITIZED = os.environ.get("FERRY_SANITIZED") == "1"
DIRECT_LINE = r"directly from this computer \(outside the routes\)"


def socks5(port, host, target_port, timeout=15.0):
    """A SOCKS5 connection (name form) to host:target_port; returns (socket, reply code)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    assert recv_exactly(s, 2) == b"\x05\x00"
    h = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack(">H", target_port))
    reply = recv_exactly(s, 10)
    return s, reply[1]


def connect(port, host, target_port, timeout=15.0):
    """An HTTP CONNECT to host:target_port; returns (socket, status line)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), target_port, host.encode(),
                                                                  target_port))
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            break
        head += b
    return s, head.split(b"\r\n")[0].decode()


class SplitModeOnLoopback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        TargetHandler.big = BLOCK * 4 * 16  # 16 MiB
        cls.office_target = Target(host="127.0.0.2")
        cls.outside_target = Target(host="127.0.0.1")
        cls.echo = serve(Echo)
        cls.source = serve(Source)
        cls.resets = serve(ResetsMidDownload)
        # A port nobody listens on: bound, then closed.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            cls.closed_port = s.getsockname()[1]
        cls.ferry = Ferry(["allow 127.0.0.2:%d" % cls.office_target.port, "deny *"],
                          relay_extra='egress_bind = "127.0.0.3"\n[routes]\nthrough = ["127.0.0.2"]\n',
                          agent_extra="[routes]\ndirect_outside = true\n")
        cls.ferry.agent.wait_for(r"routes from the relay: 1 ")
        cls.base_fds = fd_count(cls.ferry.agent.proc.pid)

    @classmethod
    def tearDownClass(cls):
        cls.ferry.close()
        for t in (cls.office_target, cls.outside_target):
            t.close()
        for s in (cls.echo, cls.source, cls.resets):
            s.shutdown()
            s.server_close()

    def modes(self):
        return {"socks5h": ["-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port],
                "forwarded HTTP": ["-x", "http://127.0.0.1:%d" % self.ferry.http_port],
                "CONNECT": ["-p", "-x", "http://127.0.0.1:%d" % self.ferry.http_port]}

    def test_listed_targets_go_through_the_office_the_rest_directly(self):
        audit_before = len(self.ferry.audit().splitlines())
        lines_before = len(self.ferry.agent.lines)
        for name, args in self.modes().items():
            rc, out, err = curl(*args, "http://127.0.0.2:%d/whoami" % self.office_target.port)
            self.assertEqual((rc, out), (0, b"127.0.0.3"), "%s, listed: %s" % (name, err))
            rc, out, err = curl(*args, "http://127.0.0.1:%d/whoami" % self.outside_target.port)
            self.assertEqual((rc, out), (0, b"127.0.0.1"), "%s, outside: %s" % (name, err))
        # One log line per direct connection, naming the target and the address that answered.
        direct = wait_until(lambda: (lambda l: l if len(l) >= 3 else None)(
            [l for l in self.ferry.agent.lines[lines_before:] if re.search(DIRECT_LINE, l)]), 5,
            "three direct log lines")
        self.assertEqual(len(direct), 3, direct)
        for line in direct:
            self.assertIn("127.0.0.1:%d" % self.outside_target.port, line)
            self.assertNotIn("127.0.0.2", line)
        # The relay saw only the listed ones (it writes each line once its stream has ended).
        audit = wait_until(lambda: (lambda l: l if len(l) >= 3 else None)(self.ferry.audit().splitlines()[audit_before:]),
                           10, "three audit lines")
        time.sleep(0.2)  # and no more come
        audit = self.ferry.audit().splitlines()[audit_before:]
        self.assertEqual(len(audit), 3, audit)
        for line in audit:
            self.assertIn("127.0.0.2:%d" % self.office_target.port, line)

    def test_status_and_env_say_split_mode_is_on(self):
        text, status = self.ferry.agent_status()
        self.assertEqual(status["split_mode"], "on")
        self.assertEqual(text["split mode"], "on")
        out = subprocess.run([AGENT, "env", "--config", self.ferry.path("agent.toml")], capture_output=True,
                             text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("export ALL_PROXY=socks5h://", out.stdout)
        self.assertTrue(out.stdout.rstrip("\n").splitlines()[-1].startswith("# split mode ([routes] direct_outside)"),
                        out.stdout)

    def test_bulk_bytes_both_ways_arrive_intact(self):
        # 16 MiB down on every front end, checked by hash.
        want = hashlib.sha256(TargetHandler.big).hexdigest()
        for name, args in self.modes().items():
            p = subprocess.run(["curl", "-sS", "--max-time", "60"] + args +
                               ["http://127.0.0.1:%d/big" % self.outside_target.port], capture_output=True, timeout=90)
            self.assertEqual(p.returncode, 0, "%s: %s" % (name, p.stderr))
            self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), want, name)
        # 8 MiB up through the forwarder (the body crosses the direct origin's backpressure).
        body = self.ferry.path("upload.bin")
        with open(body, "wb") as f:
            f.write(BLOCK * 32)
        rc, out, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "--data-binary", "@" + body,
                            "http://127.0.0.1:%d/upload" % self.outside_target.port, timeout=60)
        self.assertEqual((rc, out), (0, b"got %d bytes" % (len(BLOCK) * 32)), err)
        # 8 MiB each way at once through a SOCKS and a CONNECT tunnel to an echo server: the client
        # writes everything before reading anything, so both directions must stall and resume.
        for kind in ("socks", "connect"):
            s, code = (socks5(self.ferry.socks_port, "127.0.0.1", self.echo.server_address[1]) if kind == "socks"
                       else connect(self.ferry.http_port, "127.0.0.1", self.echo.server_address[1]))
            with s:
                self.assertTrue(code == 0 or str(code).startswith("HTTP/1.1 200"), "%s: %s" % (kind, code))
                payload = os.urandom(8 << 20)
                got = bytearray()
                s.setblocking(False)
                sent = 0
                deadline = time.time() + 60
                while len(got) < len(payload) and time.time() < deadline:
                    if sent < len(payload):
                        try:
                            sent += s.send(payload[sent:sent + 65536])
                        except BlockingIOError:
                            pass
                    try:
                        b = s.recv(1 << 20)
                        if not b:
                            break
                        got += b
                    except BlockingIOError:
                        time.sleep(0.001)
                self.assertEqual(bytes(got), payload, kind)

    def test_the_faults_of_a_direct_connection(self):
        agent = self.ferry.agent
        # A target that refuses: SOCKS5 0x05, CONNECT and forwarded HTTP 502, each saying it was this computer.
        s, code = socks5(self.ferry.socks_port, "127.0.0.1", self.closed_port)
        s.close()
        self.assertEqual(code, 0x05)
        s, line = connect(self.ferry.http_port, "127.0.0.1", self.closed_port)
        s.close()
        self.assertTrue(line.startswith("HTTP/1.1 502"), line)
        rc, out, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "http://127.0.0.1:%d/" % self.closed_port)
        self.assertIn(b"dialled directly from this computer", out)
        # A name that resolves nowhere: 0x04, with the laptop's reason.
        s, code = socks5(self.ferry.socks_port, "nowhere.invalid", 80)
        s.close()
        self.assertEqual(code, 0x04)
        # A target that resets mid-download: the client is reset too, never handed a clean end.
        for kind in ("socks", "connect"):
            s, code = (socks5(self.ferry.socks_port, "127.0.0.1", self.resets.server_address[1]) if kind == "socks"
                       else connect(self.ferry.http_port, "127.0.0.1", self.resets.server_address[1]))
            # On a loaded machine the reset can come before the agent saw its connect complete: then the
            # dial itself fails, and the client gets a failure reply instead of a success and a reset.
            if code not in (0, "HTTP/1.1 200 Connection established"):
                self.assertIn(code, (0x01, 0x05) if kind == "socks" else ("HTTP/1.1 502 Bad Gateway",), kind)
                s.close()
                continue
            got, reset = 0, False
            with s:
                s.settimeout(15)
                try:
                    while True:
                        b = s.recv(65536)
                        if not b:
                            break
                        got += len(b)
                except ConnectionResetError:
                    reset = True
            self.assertTrue(reset, "%s: a clean end after %d bytes of a reset download" % (kind, got))
        # Clients that vanish mid-download (Ctrl-C, or a reset) on every front end, and one that
        # vanishes with the dial under way; then the agent still serves, with its descriptors back.
        for name, args in self.modes().items():
            for _ in range(3):
                p = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "--limit-rate", "20M"] + args +
                                     ["http://127.0.0.1:%d/big" % self.outside_target.port], stderr=subprocess.DEVNULL)
                time.sleep(0.2)
                p.kill()
                p.wait(timeout=10)
        for _ in range(5):
            s, _ = socks5(self.ferry.socks_port, "127.0.0.1", self.source.server_address[1])
            s.sendall(b"0\n")
            recv_exactly(s, 100000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", self.ferry.socks_port)) as s:
                s.sendall(b"\x05\x01\x00\x05\x01\x00\x03\x0fnowhere.invalid\x00\x50")
        self.assertIsNone(agent.proc.poll(), "the agent died")
        rc, out, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port,
                            "http://127.0.0.1:%d/whoami" % self.outside_target.port)
        self.assertEqual((rc, out), (0, b"127.0.0.1"), err)
        wait_until(lambda: fd_count(agent.proc.pid) <= self.base_fds + 4 or None, 20,
                   "the agent's descriptors back within 4 of %d (now %d)" % (self.base_fds, fd_count(agent.proc.pid)))


class SplitModeFailsClosed(unittest.TestCase):
    def test_nothing_goes_direct_before_the_relay_pushed_its_routes(self):
        target = Target(host="127.0.0.1")
        self.addCleanup(target.close)
        d = tempfile.mkdtemp(prefix="ferry-split-")
        self.addCleanup(shutil.rmtree, d, True)
        subprocess.run([AGENT, "keygen", "--out", d + "/agent.key"], check=True, capture_output=True)
        relay_pub = subprocess.run([RELAY, "keygen", "--out", d + "/relay.key"], check=True, capture_output=True,
                                   text=True).stdout.strip()
        with socket.socket() as s:  # a relay address where nothing answers
            s.bind(("127.0.0.1", 0))
            nobody = s.getsockname()[1]
        with open(d + "/agent.toml", "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:%d"\npublic_key = "%s"\n'
                    '[socks]\nlisten = "127.0.0.1:0"\n[routes]\ndirect_outside = true\n' % (nobody, relay_pub))
        agent = Daemon([AGENT, "--config", d + "/agent.toml"])
        self.addCleanup(agent.stop)
        (_, port), = agent.listening(1)
        agent.wait_for(r"until the relay sends its routes, everything goes through it")
        s, code = socks5(port, "127.0.0.1", target.port)
        s.close()
        self.assertNotEqual(code, 0, "a target went direct before any routes came")
        self.assertFalse([l for l in agent.lines if re.search(DIRECT_LINE, l)])
        rc, out, err = curl("http://127.0.0.1:%d/status" % port)
        self.assertEqual(rc, 0, err)
        self.assertIn(b'"split_mode":"waiting for the relay\'s routes"', out)


class SplitModeInNamespaces(unittest.TestCase):
    """laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target (root only).

    intranet.corp is listed and resolves only in the office; public.test is not listed and resolves
    only on the laptop. curl is given nothing but the global proxy variables."""

    @classmethod
    def setUpClass(cls):
        cls.net = Network("fsp%d" % os.getpid())
        cls.net.create_laptop()
        cls.daemons = []
        cls.dir = tempfile.mkdtemp(prefix="ferry-split-")
        try:
            cls.net.build()
            for name, hosts in ((cls.net.office, "198.18.2.2 intranet.corp\n"),
                                (cls.net.laptop, "198.18.2.2 public.test\n")):
                os.makedirs("/etc/netns/" + name, exist_ok=True)
                with open("/etc/netns/%s/hosts" % name, "w") as f:
                    f.write("127.0.0.1 localhost\n" + hosts)
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
                        '[http]\nlisten = "127.0.0.1:8080"\n[socks]\nlisten = "127.0.0.1:1080"\n'
                        '[routes]\ndirect_outside = true\n' % relay_pub)
            target = Daemon(ns(cls.net.target, sys.executable, "-c", who_asked_server("seen from %s")))
            cls.daemons.append(target)
            target.wait_for(r"^ready$")
            relay = Daemon(ns(cls.net.office, RELAY, "--config", d + "/relay.toml"))
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
        for name in (cls.net.office, cls.net.laptop):
            shutil.rmtree("/etc/netns/" + name, ignore_errors=True)
        shutil.rmtree(getattr(cls, "dir", "/nonexistent"), ignore_errors=True)

    def curl(self, env, url):
        p = subprocess.run(ns(self.net.laptop, "env", *env, "curl", "-sS", "--max-time", "20", url),
                           capture_output=True, text=True, timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_a_global_proxy_sends_only_the_listed_name_through_the_office(self):
        envs = {"http_proxy": ["http_proxy=http://127.0.0.1:8080"],
                "ALL_PROXY (socks5h)": ["ALL_PROXY=socks5h://127.0.0.1:1080"]}
        for name, env in envs.items():
            self.assertEqual(self.curl(env, "http://intranet.corp/"), "seen from 198.18.2.1", name)
            self.assertEqual(self.curl(env, "http://public.test/"), "seen from 198.18.1.2", name)
            self.assertEqual(self.curl(env, "http://198.18.2.2/"), "seen from 198.18.1.2", name)
        # CONNECT (what https_proxy makes curl send), to the listed name and to the unlisted one.
        p = ["http_proxy=http://127.0.0.1:8080"]
        for url, seen in (("http://intranet.corp/", "198.18.2.1"), ("http://public.test/", "198.18.1.2")):
            out = subprocess.run(ns(self.net.laptop, "env", *p, "curl", "-sS", "-p", "--max-time", "20", url),
                                 capture_output=True, text=True, timeout=40)
            self.assertEqual((out.returncode, out.stdout), (0, "seen from " + seen), out.stderr)
        direct = [l for l in self.agent.lines if re.search(DIRECT_LINE, l)]
        self.assertTrue(any("public.test:80" in l for l in direct), direct)
        self.assertFalse([l for l in direct if "intranet.corp" in l])


if __name__ == "__main__":
    unittest.main()
