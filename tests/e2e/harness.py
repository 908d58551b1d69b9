"""Shared pieces of ferry's end-to-end tests: real binaries, real clients, loopback only.

Daemons bind port 0 and the harness reads the address from their "listening on ADDR" line, so no test
needs a fixed port or a sleep to wait for readiness. Every wait has a timeout.
"""
import http.server
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

# Tests hold thousands of sockets at once (theirs, and the daemons' they start): lift the soft limit
# on open files to the hard one, as an operator would for a proxy.
try:
    import resource
    _soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(_hard, 65536) if _hard != resource.RLIM_INFINITY else 65536, _hard))
except (ImportError, ValueError, OSError):
    pass

BIN = os.environ.get("FERRY_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "release"))
RELAY = os.path.join(BIN, "ferry-relay")
AGENT = os.path.join(BIN, "ferry-agent")


class Daemon:
    """A ferry process whose stderr is collected line by line."""

    def __init__(self, argv, env=None):
        self.lines = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     env=dict(os.environ, **(env or {})))
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._q.put(line)

    def wait_for(self, pattern, timeout=10.0, count=1):
        """Returns the `count`-th match of `pattern` in the log (the first by default), waiting at most
        `timeout` seconds. A count says "once more than before" where the same line comes again."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        seen = 0
        while time.time() < deadline:
            new = self.lines[seen:]  # the reader thread may append meanwhile: count only what was read
            seen += len(new)
            for line in new:
                m = rx.search(line)
                if m:
                    count -= 1
                    if count == 0:
                        return m
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and len(self.lines) == seen:
                    break
        raise AssertionError("no log line matching %r within %.1fs; log:\n%s" % (pattern, timeout, "\n".join(self.lines)))

    def listening(self, count=1, timeout=10.0):
        found = []
        deadline = time.time() + timeout
        while len(found) < count and time.time() < deadline:
            found = [m.group(1) for m in (re.search(r"(?<!admin )listening on (\S+)", l) for l in self.lines) if m]
            time.sleep(0.02)
        if len(found) < count:
            raise AssertionError("daemon did not report %d listeners; log:\n%s" % (count, "\n".join(self.lines)))
        return [(a.rsplit(":", 1)[0].strip("[]"), int(a.rsplit(":", 1)[1])) for a in found[:count]]

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Nothing else holds the pipe (ferry starts no processes), so the reader is at EOF once the process is
        # gone; closing the pipe before the reader is done would block until it was.
        self._reader.join()
        self.proc.stderr.close()
        return self.proc.returncode


class TargetHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    big = b""

    def log_message(self, *args):
        pass

    def _send(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/upgrade" and self.headers.get("Upgrade") == "echo":
            self.send_response(101)
            self.send_header("Upgrade", "echo")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:  # the connection is no longer HTTP: echo until the client closes
                b = self.rfile.read1(4096)
                if not b:
                    break
                self.wfile.write(b)
                self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/whoami":
            return self._send(self.client_address[0].encode())
        if self.path == "/big":
            return self._send(TargetHandler.big, "application/octet-stream")
        if self.path == "/headers":
            return self._send(str(self.headers).encode())
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"chunk-one ", b"chunk-two ", b"chunk-three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        return self._send(b"hello from the target at " + self.path.encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        return self._send(b"got %d bytes" % len(body))


class QuietServer(http.server.ThreadingHTTPServer):
    """Clients that reset (what several tests do on purpose) are not errors worth a traceback.

    socketserver listens with a backlog of 5. Hundreds of connections at once overflow that accept
    queue; the kernel drops the SYNs, and their retransmissions at 1, 3 and 7 s can outlast a relay's
    dial timeout (nstat's TcpExtListenOverflows counted 552 in one run of 500 connections). A real
    backlog keeps the target from being what a test measures."""
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Target:
    """An HTTP server (and optionally an HTTPS one) on loopback, in threads of the test process."""

    def __init__(self, host="127.0.0.1", tls_dir=None):
        self.http = QuietServer((host, 0), TargetHandler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.https = None
        if tls_dir:
            cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                            "/CN=intranet.test", "-addext", "subjectAltName=DNS:intranet.test,IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            self.cert = cert
            self.https = QuietServer((host, 0), TargetHandler)
            self.https.daemon_threads = True
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.https.socket = ctx.wrap_socket(self.https.socket, server_side=True)
            self.tls_port = self.https.server_address[1]
            threading.Thread(target=self.https.serve_forever, daemon=True).start()

    def close(self):
        for server in (self.http, self.https):
            if server:
                server.shutdown()
                server.server_close()


class Ferry:
    """A relay and an agent on loopback, with fresh keys and configs written for this test."""

    def __init__(self, relay_rules, agent_rules=None, relay_extra="", agent_extra="", limits="", agent_relay_extra="",
                 wait_link=True):
        """relay_extra goes in relay.toml's top level, agent_relay_extra in agent.toml's [relay] table and
        agent_extra at the end of agent.toml. With wait_link=False the link need not come up."""
        self.dir = tempfile.mkdtemp(prefix="ferry-e2e-")
        self.relay = self.agent = None
        try:
            self._start(relay_rules, agent_rules, relay_extra, agent_extra, limits, agent_relay_extra, wait_link)
        except BaseException:
            self.close()  # a daemon that did start is not left behind
            raise

    def _start(self, relay_rules, agent_rules, relay_extra, agent_extra, limits, agent_relay_extra, wait_link):
        self.relay_pub = self.keygen(RELAY, "relay.key")
        self.agent_pub = self.keygen(AGENT, "agent.key")
        agent_rules_line = "rules = %s\n" % toml_list(agent_rules) if agent_rules else ""
        self.write("relay.toml",
                   'listen = "127.0.0.1:0"\nprivate_key_file = "relay.key"\naudit_log = "audit.jsonl"\n' + relay_extra +
                   "[limits]\n" + limits +
                   "[policy]\nrules = %s\n" % toml_list(relay_rules) +
                   '[[agents]]\nname = "e2e"\npublic_key = "%s"\n' % self.agent_pub + agent_rules_line)
        self.relay = Daemon([RELAY, "--config", self.path("relay.toml")])
        (_, self.relay_port), = self.relay.listening(1)
        self.write("agent.toml",
                   'private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:%d"\npublic_key = "%s"\n'
                   % (self.relay_port, self.relay_pub) + agent_relay_extra +
                   '[http]\nlisten = "127.0.0.1:0"\n[socks]\nlisten = "127.0.0.1:0"\n' + agent_extra)
        self.agent = Daemon([AGENT, "--config", self.path("agent.toml")])
        (_, self.http_port), (_, self.socks_port) = self.agent.listening(2)
        # [relay] links (default 2): the rest connect one at a time once the primary is up.
        m = re.search(r"^links\s*=\s*(\d+)", agent_relay_extra, re.M)
        self.links = int(m.group(1)) if m else 2
        if wait_link:
            self.agent.wait_for(r"link up")
            for n in range(2, self.links + 1):
                self.agent.wait_for(r"link %d of %d up" % (n, self.links))

    def agent_status(self):
        """`ferry-agent status` (its lines as a dict) and GET /status (JSON) from the running agent."""
        # The agent listens on port 0; `status` reads the port from its config, so give it the real one.
        with open(self.path("agent.toml")) as f:
            config = f.read().replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:%d"' % self.http_port, 1)
        self.write("status.toml", config)
        out = subprocess.run([AGENT, "status", "--config", self.path("status.toml")], capture_output=True, text=True,
                             timeout=10)
        if out.returncode != 0:
            raise AssertionError("ferry-agent status exited %d: %s" % (out.returncode, out.stderr))
        text = dict(re.findall(r"^([a-z0-9 ]+):\s+(.*)$", out.stdout, re.M))
        rc, body, err = curl("http://127.0.0.1:%d/status" % self.http_port)
        if rc != 0:
            raise AssertionError("GET /status failed: " + err)
        return text, json.loads(body)

    def keygen(self, binary, name):
        out = subprocess.run([binary, "keygen", "--out", self.path(name)], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        # 0600: the agent refuses an agent.toml with [auth] that group or others can read.
        with open(os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)

    def audit(self):
        try:
            with open(self.path("audit.jsonl")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        for daemon in (self.agent, self.relay):
            if daemon:
                daemon.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        sanitizer_reports(self.agent, self.relay)


def sanitizer_reports(*daemons):
    """Fails when a daemon's log holds an ASan, LSan or UBSan report (they print to stderr, which the
    daemon's lines are): a sanitized build that finds a fault must fail the test that caused it."""
    for daemon in daemons:
        if daemon is None:
            continue
        found = [l for l in daemon.lines if re.search(r"ERROR: (Address|Leak)Sanitizer|: runtime error: ", l)]
        if found:
            at = daemon.lines.index(found[0])
            raise AssertionError("sanitizer report:\n" + "\n".join(daemon.lines[at:at + 60]))


def toml_list(items):
    return "[" + ", ".join('"%s"' % i for i in items) + "]"


def curl(*args, timeout=20):
    """Runs curl; returns (exit code, body bytes, stderr text)."""
    p = subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args), capture_output=True, timeout=timeout + 10)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def raw(port, data, read_timeout=5.0, half_close=False):
    """Sends bytes to 127.0.0.1:port and returns everything read until EOF or the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            pass
        return b"".join(chunks)
