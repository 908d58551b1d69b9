"""The Debian packages as an operator gets them.

Builds ferry-relay and ferry-agent with `cpack -G DEB` into a scratch directory, runs lintian on them (any
E: fails), checks their control data and file lists, unpacks them with `dpkg-deb -x` into a scratch root
and runs the unpacked programs through requests end to end, checks the systemd units with
`systemd-analyze verify` and `systemd-analyze security --offline=true`, and parses the macOS plist.
Nothing is installed: the machine is left as it was.

Run by ctest (label "package") in a Release tree; it exits 77, which ctest reports as skipped, when a tool
it needs is missing, and says which.
"""
import glob
import gzip
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("FERRY_BUILD_DIR", os.path.join(SOURCE, "build", "release"))
CPACK = os.environ.get("FERRY_CPACK", "cpack")
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import harness  # noqa: E402
import test_setup  # noqa: E402

TOOLS = {  # tool: the Debian package that has it
    "dpkg-deb": "dpkg", "dpkg-shlibdeps": "dpkg-dev", "lintian": "lintian", "file": "file",
    "systemd-analyze": "systemd", "man": "man-db", "curl": "curl", "objdump": "binutils",
}
SKIP_CODE = 77

RELAY_FILES = {
    "etc/ferry/relay.toml": 0o644,
    "usr/bin/ferry-relay": 0o755,
    "usr/lib/systemd/system/ferry-relay.service": 0o644,
    "usr/share/doc/ferry-relay/README.md": 0o644,
    "usr/share/doc/ferry-relay/changelog.gz": 0o644,
    "usr/share/doc/ferry-relay/copyright": 0o644,
    "usr/share/doc/ferry-relay/examples/relay.toml": 0o644,
    "usr/share/man/man8/ferry-relay.8.gz": 0o644,
}
AGENT_FILES = {
    "usr/bin/ferry-agent": 0o755,
    "usr/lib/systemd/user/ferry-agent.service": 0o644,
    "usr/share/doc/ferry-agent/README.md": 0o644,
    "usr/share/doc/ferry-agent/changelog.gz": 0o644,
    "usr/share/doc/ferry-agent/copyright": 0o644,
    "usr/share/doc/ferry-agent/examples/agent.toml": 0o644,
    "usr/share/man/man1/ferry-agent.1.gz": 0o644,
}


def run(*argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(list(argv), **kw)


class Packages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = ["%s (%s)" % (t, p) for t, p in TOOLS.items() if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest("needs Debian tools: " + ", ".join(missing))
        cls.dir = tempfile.mkdtemp(prefix="ferry-pkg-")
        out = run(CPACK, "-G", "DEB", "-B", os.path.join(cls.dir, "debs"), cwd=BUILD)
        if out.returncode != 0:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise AssertionError("cpack failed:\n" + out.stdout + out.stderr)
        cls.debs = {}
        for name in ("ferry-relay", "ferry-agent"):
            found = glob.glob(os.path.join(cls.dir, "debs", name + "_*.deb"))
            assert len(found) == 1, "cpack wrote %r for %s" % (found, name)
            cls.debs[name] = found[0]
        cls.root = os.path.join(cls.dir, "root")
        for deb in cls.debs.values():
            out = run("dpkg-deb", "-x", deb, cls.root)
            assert out.returncode == 0, out.stderr
        cls.relay = os.path.join(cls.root, "usr/bin/ferry-relay")
        cls.agent = os.path.join(cls.root, "usr/bin/ferry-agent")
        cls.version = run(cls.relay, "--version").stdout.split()[-1]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)

    # -- what is in the packages

    def test_lintian_reports_no_errors(self):
        out = run("lintian", "--display-info", "--pedantic", *self.debs.values(), timeout=300)
        print("\nlintian:\n" + (out.stdout.strip() or "(nothing)"), file=sys.stderr)
        tags = [l for l in out.stdout.splitlines() if re.match(r"^[EWIPXO]: ", l)]
        errors = [l for l in tags if l.startswith("E: ")]
        self.assertEqual(errors, [], out.stdout)
        # Lintian exits 1 for errors (and 2 when it could not run at all).
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_control_data(self):
        for name, deb in self.debs.items():
            fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", run("dpkg-deb", "-f", deb).stdout, re.M))
            self.assertEqual(fields["Package"], name)
            self.assertEqual(fields["Version"], self.version)
            self.assertEqual(fields["Section"], "net")
            depends = [d.split()[0] for d in fields["Depends"].split(", ")]
            for lib in ("libc6", "libstdc++6", "libuv1", "libsodium23", "libtomlplusplus3"):
                self.assertIn(lib, depends, "%s: dpkg-shlibdeps should have found %s" % (name, lib))
            self.assertEqual("adduser" in depends, name == "ferry-relay", fields["Depends"])
        control = os.path.join(self.dir, "control-relay")
        run("dpkg-deb", "-e", self.debs["ferry-relay"], control)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/ferry/relay.toml"])
        for script in ("postinst", "prerm", "postrm"):
            p = os.path.join(control, script)
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o755, script)
            self.assertEqual(run("sh", "-n", p).returncode, 0, script)
        with open(os.path.join(control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system --group --no-create-home --home /nonexistent", postinst)
        self.assertIn("ferry-relay keygen --out", postinst)
        self.assertIn('if [ ! -e "$key" ]', postinst)  # an existing key is never replaced
        # The relay runs as ferry-relay and refuses a key that another user owns or others may use.
        self.assertIn('pub=$(umask 077; ferry-relay keygen --out "$key")', postinst)
        self.assertIn('chown ferry-relay:ferry-relay "$key"\n\t\tchmod 0600 "$key"', postinst)
        self.assertNotIn("deluser", open(os.path.join(control, "postrm")).read())

    def test_file_lists_modes_and_owners(self):
        for name, expected in (("ferry-relay", RELAY_FILES), ("ferry-agent", AGENT_FILES)):
            listing = run("dpkg-deb", "-c", self.debs[name]).stdout.splitlines()
            files = {}
            for line in listing:
                mode, owner, _size, _date, _time, path = line.split(None, 5)
                self.assertEqual(owner, "root/root", line)
                path = path[2:]  # "./usr/..." -> "usr/..."
                if mode.startswith("d"):
                    self.assertEqual(mode, "drwxr-xr-x", line)
                else:
                    files[path] = mode
            self.assertEqual(sorted(files), sorted(expected), name)
            for path, want in expected.items():
                self.assertEqual(stat.S_IMODE(os.lstat(self.path(path)).st_mode), want, path)
            # Keys are secrets made on each machine: none is shipped, in any form.
            for path in files:
                self.assertFalse(path.endswith(".key"), path)
                with open(self.path(path), "rb") as f:
                    body = f.read()
                if path.endswith(".gz"):
                    body = gzip.decompress(body)
                self.assertIsNone(re.search(rb"^[A-Za-z0-9+/]{43}=\s*$", body, re.M), "%s holds a key" % path)

    def test_binaries_are_stripped_and_hardened(self):
        for b in (self.relay, self.agent):
            desc = run("file", "-b", b).stdout
            self.assertIn("ELF", desc)
            self.assertIn(", stripped", desc)
            sections = run("objdump", "-h", b).stdout
            self.assertNotIn(".comment", sections)  # what dh_strip also removes
            self.assertNotIn(".debug", sections)

    def test_man_pages_and_changelog_are_gzip_9n(self):
        for rel in ("usr/share/man/man8/ferry-relay.8.gz", "usr/share/man/man1/ferry-agent.1.gz",
                    "usr/share/doc/ferry-relay/changelog.gz", "usr/share/doc/ferry-agent/changelog.gz"):
            with open(self.path(rel), "rb") as f:
                head = f.read(10)
            self.assertEqual(head[:3], b"\x1f\x8b\x08", rel)
            self.assertEqual(head[3] & 0x08, 0, "%s stores a file name (gzip without -n)" % rel)
            self.assertEqual(head[4:8], b"\0\0\0\0", "%s stores a time stamp (gzip without -n)" % rel)
            self.assertEqual(head[8], 2, "%s is not gzip -9" % rel)
        with gzip.open(self.path("usr/share/doc/ferry-relay/changelog.gz"), "rt") as f:
            self.assertTrue(f.readline().startswith("ferry (%s) " % self.version))
        with open(self.path("usr/share/doc/ferry-relay/copyright")) as f:
            self.assertEqual(f.readline().strip(),
                             "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")

    def test_man_pages_match_help(self):
        for binary, page in ((self.relay, "usr/share/man/man8/ferry-relay.8.gz"),
                             (self.agent, "usr/share/man/man1/ferry-agent.1.gz")):
            usage = run(binary, "--help").stdout
            out = run("man", "-l", "-P", "cat", self.path(page), env=dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8"))
            self.assertEqual(out.returncode, 0, out.stderr)
            text = out.stdout.replace("\u2010", "-")  # groff's hyphen
            name = os.path.basename(binary)
            commands = re.findall(r"^  %s (\w+) " % name, usage, re.M)
            options = set(re.findall(r"--[a-z][a-z-]*", usage))
            self.assertGreaterEqual(len(commands), 4, usage)
            for word in commands:
                self.assertRegex(text, r"%s %s\b" % (name, word), "%s(page) lacks the command %s" % (name, word))
            for opt in options:
                self.assertRegex(text, r"%s\b" % re.escape(opt), "%s's page lacks %s" % (name, opt))
            self.assertIn("ferry %s" % self.version, text)  # the page's footer names the version it documents

    # -- the unpacked programs, end to end

    def test_unpacked_programs_serve_a_request(self):
        target = harness.Target()
        saved = harness.RELAY, harness.AGENT
        harness.RELAY, harness.AGENT = self.relay, self.agent
        try:
            ferry = harness.Ferry(["allow 127.0.0.1:%d" % target.port])
        finally:
            harness.RELAY, harness.AGENT = saved
        try:
            url = "http://127.0.0.1:%d/from-the-package" % target.port
            rc, body, err = harness.curl("-x", "http://127.0.0.1:%d" % ferry.http_port, url)
            self.assertEqual((rc, body), (0, b"hello from the target at /from-the-package"), err)
            rc, body, err = harness.curl("-x", "socks5h://127.0.0.1:%d" % ferry.socks_port, url)
            self.assertEqual((rc, body), (0, b"hello from the target at /from-the-package"), err)
            self.assertIn('"result":"connected"', ferry.audit())
        finally:
            ferry.close()
            target.close()

    def test_unpacked_programs_enrol_and_connect(self):
        # tests/e2e/test_setup.py, run against the unpacked binaries: init, enroll, SIGHUP, a request.
        saved = test_setup.RELAY, test_setup.AGENT
        test_setup.RELAY, test_setup.AGENT = self.relay, self.agent
        try:
            result = unittest.TestResult()
            test_setup.Setup("test_init_enroll_reload_connect").run(result)
        finally:
            test_setup.RELAY, test_setup.AGENT = saved
        problems = result.errors + result.failures
        self.assertEqual(problems, [], "\n".join(p[1] for p in problems))
        self.assertEqual(result.testsRun, 1)

    def test_shipped_configs(self):
        out = run(self.relay, "check", "--config", self.path("etc/ferry/relay.toml"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"OK \(0 agents, 1 policy rules, link ciphers chacha20-poly1305(, aes-256-gcm)?\)")
        # The agent example only lacks a real relay key; with one it passes `check`.
        d = tempfile.mkdtemp(dir=self.dir)
        pub = run(self.relay, "keygen", "--out", os.path.join(d, "relay.key")).stdout.strip()
        with open(self.path("usr/share/doc/ferry-agent/examples/agent.toml")) as f:
            example = f.read()
        self.assertIn('public_key = "RELAY_PUBLIC_KEY"', example)
        with open(os.path.join(d, "agent.toml"), "w") as f:
            f.write(example.replace("RELAY_PUBLIC_KEY", pub))
        out = run(self.agent, "check", "--config", os.path.join(d, "agent.toml"))
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_enroll_into_the_shipped_config_keeps_owner_and_mode(self):
        # The operator's path: enroll into the conffile as shipped. The file is replaced by a rename, which
        # must keep a group that lets the service read it.
        d = tempfile.mkdtemp(dir=self.dir)
        conf = os.path.join(d, "relay.toml")
        shutil.copy(self.path("etc/ferry/relay.toml"), conf)
        os.chmod(conf, 0o640)
        gid = 65534 if os.geteuid() == 0 else os.getgid()  # nogroup stands in for ferry-relay
        os.chown(conf, os.geteuid(), gid)
        run(self.relay, "keygen", "--out", os.path.join(d, "relay.key"))
        agent_pub = run(self.agent, "keygen", "--out", os.path.join(d, "agent.key")).stdout.strip()
        out = run(self.relay, "enroll", "--config", conf, "--name", "alice-laptop", "--pubkey", agent_pub)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("enrolled \"alice-laptop\"", out.stdout)
        st = os.stat(conf)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o640, gid))
        out = run(self.relay, "check", "--config", conf)
        self.assertRegex(out.stdout, r"OK \(1 agents, 1 policy rules, link ciphers chacha20-poly1305(, aes-256-gcm)?\)")
        self.assertEqual([n for n in os.listdir(d) if ".enroll" in n], [])  # no scratch file left

    # -- the units and the plist

    def systemd_root(self):
        """The scratch root, plus what `systemd-analyze verify --root` resolves there on a Debian 12 host:
        the targets the unit orders itself against, /bin/kill (ExecReload), and /bin -> usr/bin."""
        unit_dir = self.path("usr/lib/systemd/system")
        for t in glob.glob("/usr/lib/systemd/system/*.target") + glob.glob("/lib/systemd/system/*.target"):
            dest = os.path.join(unit_dir, os.path.basename(t))
            if not os.path.exists(dest):
                shutil.copy(t, dest)
        kill = shutil.which("kill", path="/usr/bin:/bin")
        if kill and not os.path.exists(self.path("usr/bin/kill")):
            shutil.copy(kill, self.path("usr/bin/kill"))
        if not os.path.lexists(self.path("bin")):
            os.symlink("usr/bin", self.path("bin"))
        return self.root

    def test_relay_unit_verifies(self):
        root = self.systemd_root()
        env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))  # Documentation=man:ferry-relay(8)
        out = run("systemd-analyze", "verify", "--root=" + root, "ferry-relay.service", env=env)
        # verify exits 0 on unknown keys and prints a warning: any output is a finding.
        self.assertEqual((out.returncode, out.stdout + out.stderr), (0, ""))

    def test_relay_unit_security_score(self):
        root = self.systemd_root()
        out = run("systemd-analyze", "security", "--offline=true", "--root=" + root, "ferry-relay.service")
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.search(r"Overall exposure level for ferry-relay\.service: (\d+\.\d+)", out.stdout)
        self.assertIsNotNone(m, out.stdout)
        print("\nsystemd-analyze security ferry-relay.service: %s" % m.group(1), file=sys.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, out.stdout)
        for setting in ("User=/DynamicUser=", "NoNewPrivileges=", "ProtectSystem=", "ProtectHome=", "PrivateTmp=",
                        "PrivateDevices=", "RestrictAddressFamilies=~AF_PACKET", "SystemCallFilter=~@privileged"):
            self.assertRegex(out.stdout, r"✓ %s" % re.escape(setting), setting)
        with open(self.path("usr/lib/systemd/system/ferry-relay.service")) as f:
            unit = f.read()
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        self.assertRegex(unit, r"(?m)^CapabilityBoundingSet=$")
        self.assertRegex(unit, r"(?m)^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$")

    def test_agent_user_unit_verifies(self):
        # `verify --root` refuses the user scope, so the user manager checks a copy whose ExecStart names the
        # unpacked binary; the copy differs from the shipped unit in that path only.
        d = tempfile.mkdtemp(dir=self.dir)
        with open(self.path("usr/lib/systemd/user/ferry-agent.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/ferry-agent --config %E/ferry/agent.toml", unit)
        copy = os.path.join(d, "ferry-agent.service")
        with open(copy, "w") as f:
            f.write(unit.replace("/usr/bin/ferry-agent", self.agent))
        runtime = os.path.join(d, "run")
        os.mkdir(runtime, 0o700)
        env = dict(os.environ, HOME=d, XDG_RUNTIME_DIR=runtime, MANPATH=self.path("usr/share/man"))
        out = run("systemd-analyze", "--user", "verify", copy, env=env)
        self.assertEqual((out.returncode, out.stdout + out.stderr), (0, ""))

    def test_launchd_plist(self):
        with open(os.path.join(SOURCE, "packaging", "macos", "local.ferry.agent.plist"), "rb") as f:
            plist = plistlib.load(f)
        self.assertEqual(plist["Label"], "local.ferry.agent")
        argv = plist["ProgramArguments"]
        self.assertEqual(argv[:2], ["/bin/sh", "-c"])
        self.assertIn('exec /usr/local/bin/ferry-agent --config "$HOME/Library/Application Support/ferry/agent.toml"',
                      argv[2])
        self.assertIs(plist["RunAtLoad"], True)
        self.assertEqual(plist["KeepAlive"], {"SuccessfulExit": False})


def main():
    result = unittest.main(exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped:  # ctest shows exit status 77 as "Skipped", with this line in the output
        print("SKIPPED: " + "; ".join(sorted({reason for _, reason in result.skipped})))
        sys.exit(SKIP_CODE)


if __name__ == "__main__":
    main()
