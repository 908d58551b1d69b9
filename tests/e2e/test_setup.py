"""Enrolment and set-up without editing a file by hand: `ferry-agent init` writes a key and a config,
`ferry-relay enroll` adds the agent to relay.toml (validated, atomic, no duplicates), a SIGHUP later the
agent connects and serves; `ferry-agent env` prints lines that work.
"""
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, RELAY, Daemon, Target, curl  # noqa: E402


class Setup(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-setup-")
        self.target = Target()
        self.relay_pub = subprocess.run([RELAY, "keygen", "--out", self.path("relay.key")], check=True,
                                        capture_output=True, text=True).stdout.strip()
        with open(self.path("relay.toml"), "w") as f:
            f.write('listen = "127.0.0.1:0"\nprivate_key_file = "relay.key"\n[policy]\nrules = ["allow 127.0.0.1:%d"]\n'
                    % self.target.port)
        self.relay = Daemon([RELAY, "--config", self.path("relay.toml")])
        (_, self.relay_port), = self.relay.listening(1)
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.stop()
        self.relay.stop()
        self.target.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_cmd(self, *argv):
        return subprocess.run(list(argv), capture_output=True, text=True)

    def test_init_enroll_reload_connect(self):
        conf = self.path("laptop")
        out = self.run_cmd(AGENT, "init", "--relay", "127.0.0.1:%d" % self.relay_port, "--relay-key", self.relay_pub,
                           "--config-dir", conf, "--http", "127.0.0.1:0", "--socks", "127.0.0.1:0")
        self.assertEqual(out.returncode, 0, out.stderr)
        agent_pub = out.stdout.split("public key:\n")[1].split("\n")[0]
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(conf, "agent.key")).st_mode), 0o600)
        again = self.run_cmd(AGENT, "init", "--relay", "127.0.0.1:1", "--relay-key", self.relay_pub, "--config-dir", conf)
        self.assertEqual(again.returncode, 2)  # never over an existing config or key
        self.assertIn("refusing to overwrite", again.stderr)

        enroll = [RELAY, "enroll", "--config", self.path("relay.toml"), "--name", "laptop", "--pubkey", agent_pub]
        out = self.run_cmd(*enroll)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('public_key = "%s"' % self.relay_pub, out.stdout)
        dup = self.run_cmd(*enroll)
        self.assertEqual(dup.returncode, 2)
        self.assertIn('"laptop" is listed twice', dup.stderr)
        bad = self.run_cmd(RELAY, "enroll", "--config", self.path("relay.toml"), "--name", "x", "--pubkey", "nope")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("public_key", bad.stderr)
        # The name and key are spliced into TOML: text that would add keys of its own is refused
        # before the file is touched, and no scratch file is left behind.
        with open(self.path("relay.toml")) as f:
            before = f.read()
        sneaky_key = self.run_cmd(RELAY, "enroll", "--config", self.path("relay.toml"), "--name", "y",
                                  "--pubkey", agent_pub + '"\nrules = ["allow *"]\n#')
        self.assertEqual(sneaky_key.returncode, 2)
        self.assertIn("--pubkey", sneaky_key.stderr)
        sneaky_name = self.run_cmd(RELAY, "enroll", "--config", self.path("relay.toml"), "--name", "z\\",
                                   "--pubkey", agent_pub)
        self.assertEqual(sneaky_name.returncode, 2)
        self.assertIn("--name", sneaky_name.stderr)
        with open(self.path("relay.toml")) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual([f for f in os.listdir(self.path("")) if ".enroll" in f], [])
        self.assertEqual(self.run_cmd(RELAY, "check", "--config", self.path("relay.toml")).returncode, 0)

        self.relay.proc.send_signal(signal.SIGHUP)
        self.relay.wait_for(r"reloaded: 1 agents")
        self.agent = Daemon([AGENT, "--config", os.path.join(conf, "agent.toml")])
        (_, http_port), (_, socks_port) = self.agent.listening(2)
        self.agent.wait_for("link up")
        rc, body, err = curl("-x", "socks5h://127.0.0.1:%d" % socks_port, "http://127.0.0.1:%d/enrolled" % self.target.port)
        self.assertEqual((rc, body), (0, b"hello from the target at /enrolled"), err)

        # `env` lines, used as a shell would use them.
        env = self.run_cmd(AGENT, "env", "--config", os.path.join(conf, "agent.toml"))
        self.assertEqual(env.returncode, 0, env.stderr)
        self.assertIn("export ALL_PROXY=socks5h://127.0.0.1:0", env.stdout)  # the configured address, as written
        git = self.run_cmd(AGENT, "env", "--git", "--config", os.path.join(conf, "agent.toml"))
        self.assertEqual(git.stdout, "git config --global http.proxy socks5h://127.0.0.1:0\n")
        ssh = self.run_cmd(AGENT, "env", "--ssh", "--config", os.path.join(conf, "agent.toml"))
        self.assertIn("ProxyCommand nc -X 5 -x 127.0.0.1:0 %h %p", ssh.stdout)


if __name__ == "__main__":
    unittest.main()
