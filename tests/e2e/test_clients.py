"""Real clients and real volumes through ferry (ctest label "slow"): wget, git clone over HTTP, ssh
through `nc -X 5`, a 256 MiB download and a 64 MiB upload with sha256 checked, and 500 concurrent
connections. Each asserts on content, not only on exit codes.
"""
import concurrent.futures
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Ferry, QuietServer, Target, TargetHandler, curl  # noqa: E402

BIG = 256 << 20
SSHD = "/usr/sbin/sshd"


def free_port():
    """sshd cannot bind port 0 and report it, so ask the kernel for a free one (a small, harmless race)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
UP = 64 << 20


class RealClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ferry-clients-")
        TargetHandler.big = os.urandom(BIG)
        cls.target = Target()
        # A bare git repository served by a plain static file server ("dumb" HTTP protocol).
        work = os.path.join(cls.dir, "work")
        subprocess.run(["git", "init", "-q", work], check=True)
        with open(os.path.join(work, "README"), "w") as f:
            f.write("cloned through ferry\n")
        git = ["git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        subprocess.run(git + ["add", "README"], check=True)
        subprocess.run(git + ["commit", "-qm", "first"], check=True)
        served = os.path.join(cls.dir, "srv")
        subprocess.run(["git", "clone", "-q", "--bare", work, os.path.join(served, "repo.git")], check=True)
        subprocess.run(["git", "-C", os.path.join(served, "repo.git"), "update-server-info"], check=True)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
        handler.log_message = lambda *a: None
        cls.files = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=cls.files.serve_forever, daemon=True).start()
        cls.sshd = None
        cls.ssh_port = free_port()
        cls.ferry = Ferry(["allow 127.0.0.1:%d" % cls.target.port, "allow localhost:%d" % cls.target.port,
                           "allow 127.0.0.1:%d" % cls.files.server_address[1],
                           "allow 127.0.0.1:%d" % cls.ssh_port])

    @classmethod
    def tearDownClass(cls):
        if cls.sshd:
            cls.sshd.terminate()
            cls.sshd.wait(10)
            cls.sshd.stderr.close()
        cls.ferry.close()
        cls.target.close()
        cls.files.shutdown()
        cls.files.server_close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_wget_through_the_http_proxy(self):
        out = subprocess.run(["wget", "-q", "-O", "-", "-e", "use_proxy=yes", "-e",
                              "http_proxy=http://127.0.0.1:%d" % self.ferry.http_port,
                              "http://127.0.0.1:%d/wget" % self.target.port], capture_output=True, timeout=60)
        self.assertEqual((out.returncode, out.stdout), (0, b"hello from the target at /wget"), out.stderr)

    def test_git_clone_through_socks5h(self):
        dest = os.path.join(self.dir, "clone")
        out = subprocess.run(["git", "-c", "http.proxy=socks5h://127.0.0.1:%d" % self.ferry.socks_port, "clone", "-q",
                              "http://127.0.0.1:%d/repo.git" % self.files.server_address[1], dest],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(dest, "README")) as f:
            self.assertEqual(f.read(), "cloned through ferry\n")

    def test_256_mib_down_and_64_mib_up_intact(self):
        out = os.path.join(self.dir, "down.bin")
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % self.ferry.socks_port, "-o", out,
                             "http://127.0.0.1:%d/big" % self.target.port, timeout=300)
        self.assertEqual(rc, 0, err)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(TargetHandler.big).hexdigest())
        upload = os.path.join(self.dir, "up.bin")
        data = os.urandom(UP)
        with open(upload, "wb") as f:
            f.write(data)
        rc, body, err = curl("-x", "http://127.0.0.1:%d" % self.ferry.http_port, "--data-binary", "@" + upload,
                             "http://127.0.0.1:%d/post" % self.target.port, timeout=300)
        self.assertEqual((rc, body), (0, b"got %d bytes" % UP), err)

    def test_ssh_through_netcat_socks5(self):
        if not os.path.exists(SSHD) or not shutil.which("nc"):
            self.skipTest("needs openssh-server and netcat-openbsd")
        d = os.path.join(self.dir, "ssh")
        os.makedirs(d)
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, name)], check=True)
        shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write("ListenAddress 127.0.0.1:%d\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"
                    "PidFile %s/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                    "PermitRootLogin prohibit-password\n" % (self.ssh_port, d, d, d))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        type(self).sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                                           stderr=subprocess.PIPE, text=True)
        import time
        deadline = time.time() + 10
        while time.time() < deadline and "Server listening" not in (line := self.sshd.stderr.readline()):
            pass
        user = os.environ.get("USER") or "root"
        out = subprocess.run(["ssh", "-F", "/dev/null", "-i", os.path.join(d, "user_key"), "-o", "BatchMode=yes",
                              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                              "-o", "ProxyCommand=nc -X 5 -x 127.0.0.1:%d %%h %%p" % self.ferry.socks_port,
                              "-p", str(self.ssh_port), "%s@127.0.0.1" % user, "echo hello-over-ssh; uname -s"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "hello-over-ssh\nLinux\n")

    def test_headless_chromium_through_socks5(self):
        chromium = shutil.which("chromium")
        if not chromium:
            self.skipTest("needs Debian's chromium package")
        profile = tempfile.mkdtemp(prefix="ferry-chromium-")
        try:
            # Flags that keep Chromium from reaching out on its own (this machine has no network).
            out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                  "--user-data-dir=" + profile,
                                  "--proxy-server=socks5://127.0.0.1:%d" % self.ferry.socks_port,
                                  "--proxy-bypass-list=<-loopback>",  # loopback targets go through the proxy too
                                  "--dump-dom", "http://localhost:%d/page" % self.target.port],
                                 capture_output=True, text=True, timeout=120)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertIn("hello from the target at /page", out.stdout)

    def test_500_concurrent_connections(self):
        def one(i):
            scheme = "socks5h" if i % 2 else "http"
            port = self.ferry.socks_port if i % 2 else self.ferry.http_port
            return curl("-x", "%s://127.0.0.1:%d" % (scheme, port), "http://127.0.0.1:%d/c%d" % (self.target.port, i), timeout=60)
        with concurrent.futures.ThreadPoolExecutor(max_workers=500) as pool:
            results = list(pool.map(one, range(500)))
        bad = [(i, r) for i, r in enumerate(results) if r[1] != b"hello from the target at /c%d" % i]
        self.assertEqual(bad, [])
        # What this measures is ferry, not the target's accept queue (harness.QuietServer): no dial of
        # the relay waited for a retransmitted SYN until its timeout.
        timeouts = [l for l in self.ferry.audit().splitlines() if '"result":"dial timed out"' in l]
        self.assertEqual(timeouts, [])


if __name__ == "__main__":
    unittest.main()
