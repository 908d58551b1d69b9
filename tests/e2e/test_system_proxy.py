"""`ferry-agent system-proxy on|off|status` against real GNOME settings: gsettings with the dconf
backend, on a private D-Bus session (dbus-run-session) and a private home, so the machine's own
settings are never touched. `on` then `off` must leave `gsettings list-recursively
org.gnome.system.proxy` byte-identical; both may run twice; `status` finds settings left behind
while the agent is not running, and `off` repairs them. Skips with the reason when the tools are
missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Ferry  # noqa: E402

SCHEMA = "org.gnome.system.proxy"


class SystemProxy(unittest.TestCase):
    def setUp(self):
        for tool in ("gsettings", "dbus-run-session"):
            if not shutil.which(tool):
                self.skipTest("needs %s (Debian's libglib2.0-bin and dbus-daemon)" % tool)
        self.home = tempfile.mkdtemp(prefix="ferry-sysproxy-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = dict(os.environ, HOME=self.home, XDG_CONFIG_HOME=self.home + "/config",
                        XDG_RUNTIME_DIR=self.home, GSETTINGS_BACKEND="dconf")
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        probe = self.session("gsettings list-keys %s" % SCHEMA)
        if probe.returncode != 0:
            self.skipTest("no %s schema or dconf backend (gsettings-desktop-schemas, dconf-gsettings-backend): %s"
                          % (SCHEMA, probe.stderr.strip()[-300:]))

    def session(self, script):
        """Runs `script` (sh) inside one private D-Bus session; returns the CompletedProcess."""
        return subprocess.run(["dbus-run-session", "--", "sh", "-ec", script], capture_output=True, text=True,
                              env=self.env, cwd=self.home, timeout=60)

    def config(self, port):
        path = os.path.join(self.home, "agent.toml")
        with open(path, "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:9"\n'
                    'public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="\n'
                    '[http]\nlisten = "127.0.0.1:%d"\n' % port)
        return path

    def test_on_then_off_leaves_the_settings_byte_identical(self):
        cfg = self.config(18080)
        p = self.session(textwrap.dedent("""
            gsettings set {s} autoconfig-url 'http://old.example/it'\\''s.pac'
            gsettings set {s} mode 'manual'
            gsettings list-recursively {s} > before
            {a} system-proxy on --config {c} > on1
            {a} system-proxy on --config {c} > on2
            gsettings get {s} mode > mode_on
            gsettings get {s} autoconfig-url > url_on
            {a} system-proxy status --config {c} > status_on
            {a} system-proxy off --config {c} > off1
            {a} system-proxy off --config {c} > off2
            gsettings list-recursively {s} > after
        """).format(s=SCHEMA, a=AGENT, c=cfg))
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        read = lambda name: open(os.path.join(self.home, name)).read()  # noqa: E731
        # A quote in the value: GVariant text switches to double quotes, which `off` writes back as read.
        self.assertIn('autoconfig-url "http://old.example/it\'s.pac"', read("before"))
        self.assertEqual(read("before"), read("after"))
        self.assertEqual(read("mode_on"), "'auto'\n")
        self.assertEqual(read("url_on"), "'http://127.0.0.1:18080/proxy.pac'\n")
        self.assertIn("on: GNOME's proxy settings", read("on1"))
        self.assertIn("already on", read("on2"))
        self.assertIn("the agent is not running", read("status_on"))
        self.assertIn("off: GNOME's proxy settings", read("off1"))
        self.assertIn("already off", read("off2"))
        self.assertFalse(os.path.exists(os.path.join(self.home, "system-proxy.saved")))

    def test_settings_left_behind_by_a_crash_are_found_and_repaired(self):
        cfg = self.config(18081)
        p = self.session(textwrap.dedent("""
            gsettings list-recursively {s} > before
            {a} system-proxy on --config {c} > /dev/null
            stat -c %a system-proxy.saved > saved_mode
        """).format(s=SCHEMA, a=AGENT, c=cfg))
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(open(os.path.join(self.home, "saved_mode")).read().strip(), "600")
        # A later session: the agent never ran (or crashed); dconf kept ferry's settings.
        p = self.session("%s system-proxy status --config %s; gsettings get %s mode" % (AGENT, cfg, SCHEMA))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Left behind by a crash? `ferry-agent system-proxy off` puts back", p.stdout)
        self.assertTrue(p.stdout.rstrip().endswith("'auto'"))
        p = self.session("%s system-proxy off --config %s; gsettings list-recursively %s > after" % (AGENT, cfg, SCHEMA))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(open(os.path.join(self.home, "before")).read(), open(os.path.join(self.home, "after")).read())

    def test_status_with_the_agent_running_says_on_and_no_more(self):
        ferry = Ferry(["deny *"])
        self.addCleanup(ferry.close)
        cfg = self.config(ferry.http_port)
        p = self.session("%s system-proxy on --config %s >/dev/null; %s system-proxy status --config %s; "
                         "%s system-proxy off --config %s >/dev/null" % (AGENT, cfg, AGENT, cfg, AGENT, cfg))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("on: the system uses ferry's PAC (http://127.0.0.1:%d/proxy.pac)" % ferry.http_port, p.stdout)
        self.assertNotIn("not running", p.stdout)

    def test_bad_usage(self):
        cfg = self.config(18082)
        for args, expect in ((["system-proxy", "sideways"], "usage: ferry-agent system-proxy on|off|status"),
                             (["status", "extra"], "unknown argument: extra")):
            p = subprocess.run([AGENT] + args + ["--config", cfg], capture_output=True, text=True, env=self.env)
            self.assertEqual(p.returncode, 2)
            self.assertIn(expect, p.stderr)


class MacOsCommands(unittest.TestCase):
    """The macOS backend's commands, run against tests/e2e/standins/networksetup (a stand-in with the
    real tool's subcommands and output, over a state file) on a system without GNOME's schema (a
    gsettings stand-in that has none). Not macOS itself: what it checks is which networksetup calls
    ferry makes, for which services, and that `off` puts back what `on` found."""

    SERVICES = [{"name": "Wi-Fi", "enabled": True, "url": "(null)", "auto": False},
                {"name": "Ethernet", "enabled": True, "url": "http://wpad.corp.example/proxy.pac", "auto": True},
                {"name": "USB 10/100/1000 LAN", "enabled": True, "url": "http://old.example/x.pac", "auto": False},
                {"name": "Bluetooth PAN", "enabled": False, "url": "(null)", "auto": False}]

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ferry-macos-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.state = os.path.join(self.home, "state.json")
        with open(self.state, "w") as f:
            json.dump({"services": self.SERVICES}, f)
        standins = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins")
        self.env = dict(os.environ, NETWORKSETUP_STATE=self.state, PATH=standins + ":" + os.environ["PATH"])
        self.cfg = os.path.join(self.home, "agent.toml")
        with open(self.cfg, "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:9"\n'
                    'public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="\n[http]\nlisten = "127.0.0.1:18083"\n')

    def run_agent(self, action):
        p = subprocess.run([AGENT, "system-proxy", action, "--config", self.cfg], capture_output=True, text=True,
                           env=self.env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def services(self):
        with open(self.state) as f:
            return {s["name"]: s for s in json.load(f)["services"]}

    def test_on_points_every_enabled_service_at_the_pac_and_off_puts_them_back(self):
        pac = "http://127.0.0.1:18083/proxy.pac"
        self.assertIn("on: macOS's network services (networksetup) now use " + pac, self.run_agent("on"))
        on = self.services()
        for name in ("Wi-Fi", "Ethernet", "USB 10/100/1000 LAN"):
            self.assertEqual((on[name]["url"], on[name]["auto"]), (pac, True), name)
        self.assertEqual(on["Bluetooth PAN"], self.SERVICES[3])  # a disabled service is left alone
        self.assertIn("already on", self.run_agent("on"))
        self.assertIn("Left behind by a crash?", self.run_agent("status"))
        self.assertIn("off: macOS's network services (networksetup) are as before", self.run_agent("off"))
        self.assertIn("already off", self.run_agent("off"))
        after = self.services()
        for before in self.SERVICES:
            now = after[before["name"]]
            self.assertEqual(now["auto"], before["auto"], before["name"])
            # networksetup has no way to clear a URL: a service that had none keeps ferry's, switched
            # off (inert); every other URL is the one it had.
            self.assertEqual(now["url"], pac if before["url"] == "(null)" and before["enabled"] else before["url"],
                             before["name"])
        self.assertIn("off: the system does not use ferry's PAC", self.run_agent("status"))
        self.assertFalse(os.path.exists(os.path.join(self.home, "system-proxy.saved")))
        with open(self.state + ".log") as f:
            calls = [json.loads(l) for l in f]
        self.assertNotIn("Bluetooth PAN", {c[1] for c in calls if len(c) > 1})


if __name__ == "__main__":
    unittest.main()
