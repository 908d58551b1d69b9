"""The chaos soak (ctest label "slow"): for about 3 minutes, many clients run a random mix of the everyday
faults (cancelled downloads, resetting readers, unread-data closes, clients gone before the answer,
targets that reset mid-upload and mid-download) beside healthy downloads and echoes whose content is
checked, while the link between agent and relay is cut now and then. The run is seeded, and the seed is
printed, so a failure replays with FERRY_SOAK_SEED.

Invariants: neither program crashes or reports a sanitizer error; no descriptor is leaked; no client
is stuck (each finishes or gets an error within 15 s of its fault); every transfer that completes is
intact, and one that was cut never ends as if it were complete.

FERRY_SOAK_SECONDS sets the length (default 180; 60 under ASan).
"""
import hashlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fault_kit import (BLOCK, Echo, ResetsMidDownload, ResetsMidUpload, Source, fd_count, recv_exactly,  # noqa: E402
                       serve, set_rst_on_close, tunnel, wait_until)
from harness import AGENT, Daemon, Ferry, Target, TargetHandler  # noqa: E402

SANITIZED = os.environ.get("FERRY_SANITIZED") == "1"
SECONDS = float(os.environ.get("FERRY_SOAK_SECONDS", "60" if SANITIZED else "180"))
SEED = int(os.environ.get("FERRY_SOAK_SEED", str(int(time.time()))))
STUCK_S = 15
CLIENTS = 10
BIG = 8 << 20


class LinkCutter:
    """A TCP forwarder between the agent and the relay that can cut every connection through it at once
    (RST both ways), as a dropped Wi-Fi or a NAT that forgets does."""

    def __init__(self, relay_port):
        self.relay_port = relay_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.pairs = []
        self.lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.listener.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.relay_port), timeout=5)
            except OSError:
                a.close()
                continue
            b.settimeout(None)
            with self.lock:
                self.pairs.append((a, b))
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._copy, args=(src, dst), daemon=True).start()

    @staticmethod
    def _copy(src, dst):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            return

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
            self.cuts += 1
        for a, b in pairs:
            for s in (a, b):
                try:
                    set_rst_on_close(s)
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        self.cut()


class Soak(unittest.TestCase):
    def test_chaos_soak(self):
        print("FERRY_SOAK_SEED=%d FERRY_SOAK_SECONDS=%g" % (SEED, SECONDS), file=sys.stderr)
        TargetHandler.big = os.urandom(BIG)
        big_sha = hashlib.sha256(TargetHandler.big).hexdigest()
        target = Target()
        servers = [serve(h) for h in (Echo, Source, ResetsMidDownload, ResetsMidUpload)]
        echo, source, resets_down, resets_up = (s.server_address[1] for s in servers)
        ferry = Ferry(["allow 127.0.0.1:%d" % p for p in (target.port, echo, source, resets_down, resets_up)])
        cutter = LinkCutter(ferry.relay_port)
        self.addCleanup(lambda: [target.close(), cutter.close(), ferry.close()]
                        + [(s.shutdown(), s.server_close()) for s in servers])
        # The agent reaches the relay through the cutter.
        ferry.agent.stop()
        with open(ferry.path("agent.toml")) as f:
            ferry.write("agent.toml", f.read().replace("127.0.0.1:%d" % ferry.relay_port, "127.0.0.1:%d" % cutter.port))
        ferry.agent = Daemon([AGENT, "--config", ferry.path("agent.toml")])
        (_, ferry.http_port), (_, ferry.socks_port) = ferry.agent.listening(2)
        ferry.agent.wait_for(r"link 2 of 2 up")
        time.sleep(0.5)
        base_fds = {p: fd_count(p.pid) for p in (ferry.relay.proc, ferry.agent.proc)}

        outcomes = {}
        failures = []
        lock = threading.Lock()
        deadline = time.time() + SECONDS

        def note(kind, outcome):
            with lock:
                outcomes[(kind, outcome)] = outcomes.get((kind, outcome), 0) + 1

        def fail(text):
            with lock:
                failures.append(text)

        def download(rng, kind):
            blocks = rng.randint(1, 24)
            try:
                s = tunnel(kind, ferry, source, timeout=STUCK_S)
            except (ConnectionError, OSError) as e:
                return note("download", "refused: %s" % type(e).__name__)
            with s:
                s.settimeout(STUCK_S)
                got, buf = 0, b""
                want = hashlib.sha256(BLOCK).digest()
                try:
                    s.sendall(b"%d\n" % blocks)  # the link may be cut at any moment, this one too
                    while True:
                        b = s.recv(1 << 20)
                        if not b:
                            break
                        buf += b
                        got += len(b)
                        while len(buf) >= len(BLOCK):
                            if hashlib.sha256(buf[:len(BLOCK)]).digest() != want:
                                return fail("download: a corrupt block at %d" % (got - len(buf)))
                            buf = buf[len(BLOCK):]
                except socket.timeout:
                    return fail("download stuck: nothing for %d s after %d bytes" % (STUCK_S, got))
                except ConnectionError:
                    return note("download", "cut")
                if got != blocks * len(BLOCK):  # an orderly end must mean the whole download
                    return fail("download ended cleanly after %d of %d bytes" % (got, blocks * len(BLOCK)))
                note("download", "intact")

        def curl_download(rng, kind):
            proxy = ("socks5h://127.0.0.1:%d" % ferry.socks_port if kind == "socks"
                     else "http://127.0.0.1:%d" % ferry.http_port)
            cancel = rng.random() < 0.4
            argv = ["curl", "-fsS", "-x", proxy, "--max-time", "%.2f" % (rng.uniform(0.05, 0.5) if cancel else STUCK_S + 30),
                    "http://127.0.0.1:%d/big" % target.port]
            p = subprocess.run(argv, capture_output=True, timeout=STUCK_S + 60)
            if p.returncode == 0:
                if hashlib.sha256(p.stdout).hexdigest() != big_sha:
                    return fail("curl download: exit 0 with %d bytes that do not match" % len(p.stdout))
                return note("curl", "intact")
            if p.returncode == 28 and not cancel:
                return fail("curl download stuck: %s" % p.stderr.decode(errors="replace").strip())
            note("curl", "cancelled" if cancel else "error %d" % p.returncode)

        def echo_exchange(rng, kind):
            payload = os.urandom(rng.randint(1, 200_000))
            try:
                with tunnel(kind, ferry, echo, timeout=STUCK_S) as s:
                    s.settimeout(STUCK_S)
                    s.sendall(payload)
                    back = recv_exactly(s, len(payload))
            except socket.timeout:
                return fail("echo stuck")
            except (ConnectionError, OSError):
                return note("echo", "cut")
            if back != payload:
                return fail("echo: the bytes came back changed")
            note("echo", "intact")

        def fault(rng, kind):
            which = rng.choice(["reset reader", "unread close", "gone before answer", "upload reset", "target reset"])
            start = time.time()
            try:
                port = {"upload reset": resets_up, "target reset": resets_down}.get(which, source)
                if which == "gone before answer":
                    s = socket.create_connection(("127.0.0.1", ferry.socks_port if kind == "socks" else ferry.http_port),
                                                 timeout=STUCK_S)
                    s.sendall(b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01" + source.to_bytes(2, "big")
                              if kind == "socks" else b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % source)
                    if rng.random() < 0.5:
                        set_rst_on_close(s)
                    s.close()
                    return note("fault", which)
                s = tunnel(kind, ferry, port, timeout=STUCK_S)
                with s:
                    s.settimeout(STUCK_S)
                    if which in ("reset reader", "unread close"):
                        s.sendall(b"0\n")
                        recv_exactly(s, rng.randint(1, 1 << 20))
                        if which == "reset reader":
                            set_rst_on_close(s)
                        else:
                            time.sleep(0.02)
                    elif which == "upload reset":
                        for _ in range(64):
                            s.sendall(BLOCK)
                        while s.recv(65536):
                            pass
                        return fail("upload to a resetting target ended without an error")
                    else:
                        got = 0
                        while True:
                            b = s.recv(1 << 20)
                            if not b:
                                break
                            got += len(b)
                        # The early reply's one clean end: a CONNECT client told "200" whose dial the
                        # reset then failed is closed before any byte (counted against the agent's log).
                        if kind == "connect" and got == 0:
                            return note("fault", "closed after early reply")
                        return fail("download from a resetting target ended cleanly")
            except socket.timeout:
                return fail("%s: stuck for %d s" % (which, STUCK_S))
            except (ConnectionError, OSError):
                pass
            if time.time() - start > STUCK_S + 5:
                return fail("%s took %.1f s" % (which, time.time() - start))
            note("fault", which)

        def client(n):
            rng = random.Random(SEED * 1000 + n)
            actions = [download, download, curl_download, echo_exchange, fault, fault, fault]
            while time.time() < deadline and not failures:
                try:
                    rng.choice(actions)(rng, rng.choice(["socks", "connect"]))
                except Exception as e:  # noqa: BLE001 - any surprise is a finding, with its seed
                    fail("%s: %r" % (n, e))

        def chaos():
            rng = random.Random(SEED)
            while time.time() < deadline - 5 and not failures:
                time.sleep(rng.uniform(3, 12))
                cutter.cut()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)] + [threading.Thread(target=chaos)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
            self.assertFalse(t.is_alive(), "a soak client never finished (seed %d)" % SEED)
        for (kind, outcome), count in sorted(outcomes.items()):
            print("  %-10s %-22s %d" % (kind, outcome, count), file=sys.stderr)
        print("  link cuts: %d" % cutter.cuts, file=sys.stderr)
        self.assertEqual(failures, [], "seed %d" % SEED)
        early_closes = sum("after an early reply; the connection was closed" in l for l in ferry.agent.lines)
        self.assertLessEqual(outcomes.get(("fault", "closed after early reply"), 0), early_closes,
                             "a CONNECT closed cleanly without the agent saying why (seed %d)" % SEED)
        for daemon, name in ((ferry.relay, "relay"), (ferry.agent, "agent")):
            self.assertIsNone(daemon.proc.poll(), "the %s died (seed %d)" % (name, SEED))
            reports = [l for l in daemon.lines if "Sanitizer" in l or "runtime error" in l]
            self.assertEqual(reports, [], name)
        self.assertGreater(outcomes.get(("download", "intact"), 0), 0, "no healthy download completed")
        self.assertGreater(cutter.cuts, 0)
        # Quiet again: the agent's links come back, streams end, descriptors return.
        ferry.agent.wait_for(r"link up", timeout=30)
        for p, name in ((ferry.relay.proc, "relay"), (ferry.agent.proc, "agent")):
            base = base_fds[p]
            wait_until(lambda: fd_count(p.pid) <= base + 10 or None, 60,
                       "%s descriptors back within 10 of %d (seed %d)" % (name, base, SEED))


if __name__ == "__main__":
    unittest.main()
