"""The laptop/office/target network that namespace tests build (ip netns + veth, 198.18.0.0/15):

    laptop 198.18.1.2 ── 198.18.1.1 office 198.18.2.1 ── 198.18.2.2 target

Needs root; create_laptop() raises unittest.SkipTest with the reason where namespaces cannot be made.
"""
import os
import subprocess
import textwrap
import unittest


def who_asked_server(body, content_type="text/plain", path=None):
    """A Python script for `python3 -c` in the target namespace: an HTTP server on 198.18.2.2:80 whose
    answer is `body` % the caller's address (404 for any path but `path`, when given); it prints
    "ready" on stderr once it listens."""
    return textwrap.dedent("""
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                body = (%r %% self.client_address[0]).encode()
                self.send_response(200 if %r in (None, self.path) else 404)
                self.send_header("Content-Type", %r)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        s = http.server.ThreadingHTTPServer(("198.18.2.2", 80), H)
        print("ready", file=sys.stderr, flush=True)
        s.serve_forever()
    """) % (body, path, content_type)


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def ns(name, *cmd):
    return ["ip", "netns", "exec", name] + list(cmd)


class Network:
    """Names for one test's namespaces and veth ends, unique per process."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.laptop, self.office, self.target = prefix + "l", prefix + "o", prefix + "t"

    def dev(self, end):
        """The veth end: "a" laptop, "b" office (laptop side), "c" office (target side), "d" target."""
        return self.prefix + end

    def create_laptop(self):
        """The first namespace: proves this machine allows them, or skips the test class."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root (CI runs as root)")
        try:
            sh("ip", "netns", "add", self.laptop)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise unittest.SkipTest("cannot create network namespaces here: %s" % e)

    def build(self):
        """The other two namespaces, the veth pairs, addresses, routes and forwarding."""
        sh("ip", "netns", "add", self.office)
        sh("ip", "netns", "add", self.target)
        sh("ip", "link", "add", self.dev("a"), "type", "veth", "peer", "name", self.dev("b"))
        sh("ip", "link", "add", self.dev("c"), "type", "veth", "peer", "name", self.dev("d"))
        for end, name in (("a", self.laptop), ("b", self.office), ("c", self.office), ("d", self.target)):
            sh("ip", "link", "set", self.dev(end), "netns", name)
        for n, end, addr in ((self.laptop, "a", "198.18.1.2/24"), (self.office, "b", "198.18.1.1/24"),
                             (self.office, "c", "198.18.2.1/24"), (self.target, "d", "198.18.2.2/24")):
            sh(*ns(n, "ip", "addr", "add", addr, "dev", self.dev(end)))
            sh(*ns(n, "ip", "link", "set", self.dev(end), "up"))
        for n in (self.laptop, self.office, self.target):
            sh(*ns(n, "ip", "link", "set", "lo", "up"))
        sh(*ns(self.laptop, "ip", "route", "add", "default", "via", "198.18.1.1"))
        sh(*ns(self.target, "ip", "route", "add", "default", "via", "198.18.2.1"))
        # The laptop can route to the target (procps' sysctl may be missing on a minimal system).
        sh(*ns(self.office, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"))

    def delete(self):
        for n in (self.laptop, self.office, self.target):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
