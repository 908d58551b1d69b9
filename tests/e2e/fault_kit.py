"""What the fault tests share: targets that misbehave on purpose, clients that vanish on purpose, and the
checks that a relay and an agent came through it (alive, serving, no descriptor or memory left behind,
an audit line for every stream). Loopback only; every wait has a deadline.
"""
import os
import re
import socket
import socketserver
import struct
import threading
import time
import urllib.request

# Bytes a download target sends: a fixed random block, repeated. The block's sha256 lets a client check
# what it got without the test keeping every byte.
BLOCK = os.urandom(256 * 1024)


def set_rst_on_close(s):
    """close() then sends RST instead of FIN (SO_LINGER with a zero timeout): a reader that resets."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset_now(s):
    """Resets the connection now. In a handler, socketserver would otherwise shut the socket down
    (a FIN, an orderly end) before closing it."""
    set_rst_on_close(s)
    s.close()


class Server(socketserver.ThreadingTCPServer):
    """A threaded TCP server with a real backlog (socketserver's default of 5 drops SYNs under load)."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # clients that reset are what these tests are about


def serve(handler):
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(65536)
            if not b:
                return
            self.request.sendall(b)


class Source(socketserver.BaseRequestHandler):
    """A download: BLOCK repeated `blocks` times (the first line the client sends, as a number; 0 or
    nothing: until the client goes away), then an orderly close."""

    def handle(self):
        self.request.settimeout(30)
        line = b""
        try:
            while not line.endswith(b"\n") and len(line) < 32:
                b = self.request.recv(1)
                if not b:
                    return
                line += b
            blocks = int(line.strip() or b"0")
            sent = 0
            while blocks == 0 or sent < blocks:
                self.request.sendall(BLOCK)
                sent += 1
        except (OSError, ValueError):
            return


class AnswersAtEof(socketserver.BaseRequestHandler):
    """Reads the whole request (until the client's half-close), then answers and closes: HTTP/1.0
    style, `nc -N`, any client whose request ends with its FIN."""

    def handle(self):
        request = b""
        try:
            while True:
                b = self.request.recv(65536)
                if not b:
                    break
                request += b
            self.request.sendall(b"answer to: " + request)
        except OSError:
            return


class ResetsMidDownload(socketserver.BaseRequestHandler):
    """Sends 1 MiB, then resets the connection."""

    def handle(self):
        try:
            for _ in range(4):
                self.request.sendall(BLOCK)
        except OSError:
            return
        reset_now(self.request)


class ResetsMidUpload(socketserver.BaseRequestHandler):
    """Takes 256 KiB of an upload, then resets the connection."""

    def handle(self):
        got = 0
        try:
            while got < 256 * 1024:
                b = self.request.recv(65536)
                if not b:
                    return
                got += len(b)
        except OSError:
            return
        reset_now(self.request)


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError("closed after %d of %d bytes" % (len(out), n))
        out += b
    return out


def socks5_open(port, target_port, timeout=15.0, host=b"127.0.0.1"):
    """A SOCKS5 (name form, as socks5h) connection to 127.0.0.1:target_port; returns the socket once the
    agent answered success. Raises with the reply code otherwise."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"\x05\x01\x00")
        if recv_exactly(s, 2) != b"\x05\x00":
            raise ConnectionError("SOCKS5 greeting refused")
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host + struct.pack(">H", target_port))
        reply = recv_exactly(s, 10)
        if reply[1] != 0:
            raise ConnectionError("SOCKS5 reply 0x%02x" % reply[1])
        return s
    except BaseException:
        s.close()
        raise


def http_connect(port, target_port, timeout=15.0):
    """An HTTP CONNECT tunnel to 127.0.0.1:target_port; returns the socket once the agent said 200."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (target_port, target_port))
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(1)
            if not b:
                raise ConnectionError("the agent closed the CONNECT: %r" % head)
            head += b
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError("CONNECT failed: %r" % head.split(b"\r\n")[0])
        return s
    except BaseException:
        s.close()
        raise


def tunnel(kind, ferry, target_port, timeout=15.0):
    """A tunnel through the agent's SOCKS port ("socks") or its HTTP port with CONNECT ("connect")."""
    if kind == "socks":
        return socks5_open(ferry.socks_port, target_port, timeout)
    return http_connect(ferry.http_port, target_port, timeout)


def echo_works(ferry, echo_port, kind="socks"):
    """A new stream through the agent echoes a fresh payload."""
    payload = os.urandom(4096)
    with tunnel(kind, ferry, echo_port) as s:
        s.sendall(payload)
        return recv_exactly(s, len(payload)) == payload


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def metrics(admin_port):
    """The relay's /metrics as {name-with-labels: value}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def dials(m):
    return int(sum(v for k, v in m.items() if k.startswith("ferry_dials_total")))


def wait_until(condition, timeout, what):
    """Polls `condition` (a function returning a truthy value or None) until it holds; returns its value."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, last))
