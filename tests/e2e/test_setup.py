"""Enrolment and set-up without editing a file by hand: `ferry-agent init` writes a key and a config,
`ferry-relay enroll` adds the agent to relay.toml (validated, atomic, no duplicates), a SIGHUP later the
agent connects and serves; `ferry-agent env` prints lines that work. Secrets on disk that others could read
stop the programs at start.
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
from harness import AGENT, RELAY, Daemon, Ferry, Target, curl  # noqa: E402


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
        # 0600 too: a password added under [auth] later must not be readable by others.
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(conf, "agent.toml")).st_mode), 0o600)
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


class Secrets(unittest.TestCase):
    """Secrets on disk: a private key that group or others could use or that another user owns, or an
    agent.toml with [auth] that group or others can read, stops the program before it starts (exit 2, naming
    the command that fixes it); `env --git` keeps the password out of ~/.gitconfig."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-secrets-")
        self.key = os.path.join(self.dir, "agent.key")
        self.conf = os.path.join(self.dir, "agent.toml")
        pub = subprocess.run([AGENT, "keygen", "--out", self.key], check=True, capture_output=True,
                             text=True).stdout.strip()
        self.base = ('private_key_file = "agent.key"\n[relay]\naddress = "127.0.0.1:1"\npublic_key = "%s"\n'
                     '[http]\nlisten = "127.0.0.1:0"\n[socks]\nlisten = "127.0.0.1:0"\n' % pub)
        self.write_config(self.base, 0o600)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, text, mode):
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, mode)

    def start(self, program, conf):
        """`PROGRAM --config CONF`: its exit code and stderr. A daemon that starts instead is a failure."""
        p = subprocess.Popen([program, "--config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("%s started instead of refusing:\n%s" % (os.path.basename(program), p.communicate()[1]))
        return p.returncode, err

    def start_agent(self):
        return self.start(AGENT, self.conf)

    def test_key_that_group_or_others_can_use_is_refused(self):
        for mode, words in ((0o644, "readable"), (0o640, "readable"), (0o604, "readable"),
                            (0o620, "writable"), (0o660, "readable and writable")):
            with self.subTest(mode=oct(mode)):
                os.chmod(self.key, mode)
                rc, err = self.start_agent()
                self.assertEqual(rc, 2, err)
                self.assertIn("%s: %s by group or others (mode 0%o); run: chmod 600 %s"
                              % (self.key, words, mode, self.key), err)
        os.chmod(self.key, 0o600)
        self.assertEqual(subprocess.run([AGENT, "check", "--config", self.conf], capture_output=True).returncode, 0)

    def test_relay_key_is_checked_the_same_way(self):
        key, conf = os.path.join(self.dir, "relay.key"), os.path.join(self.dir, "relay.toml")
        subprocess.run([RELAY, "keygen", "--out", key], check=True, capture_output=True)
        with open(conf, "w") as f:
            f.write('listen = "127.0.0.1:0"\nprivate_key_file = "relay.key"\n')
        os.chmod(key, 0o640)
        rc, err = self.start(RELAY, conf)
        self.assertEqual(rc, 2, err)
        self.assertIn("%s: readable by group or others (mode 0640); run: chmod 600 %s" % (key, key), err)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the key to another user")
    def test_key_owned_by_another_user_is_refused(self):
        os.chown(self.key, 65534, 65534)
        rc, err = self.start_agent()
        self.assertEqual(rc, 2, err)
        self.assertIn("%s: owned by uid 65534, not by uid 0 that runs this program; run: chown 0 %s"
                      % (self.key, self.key), err)
        # Printing the public half is fine: root does that for the relay's key, which the relay's user owns.
        out = subprocess.run([AGENT, "pubkey", "--key", self.key], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_config_with_a_password_that_others_can_read_is_refused(self):
        self.write_config(self.base + '[auth]\nusername = "me"\npassword = "s3cret"\n', 0o644)
        rc, err = self.start_agent()
        self.assertEqual(rc, 2, err)
        self.assertIn("auth: ", err)
        self.assertIn("readable by group or others (mode 0644); run: chmod 600 %s" % self.conf, err)
        self.assertNotIn("s3cret", err)
        check = subprocess.run([AGENT, "check", "--config", self.conf], capture_output=True, text=True)
        self.assertEqual(check.returncode, 2, check.stderr)
        os.chmod(self.conf, 0o600)
        check = subprocess.run([AGENT, "check", "--config", self.conf], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)

    def test_env_git_leaves_the_password_out(self):
        self.write_config(self.base.replace("127.0.0.1:0", "127.0.0.1:1080")
                          + '[auth]\nusername = "me"\npassword = "s3cret"\n', 0o600)
        out = subprocess.run([AGENT, "env", "--git", "--config", self.conf], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("s3cret", out.stdout)
        self.assertIn("git config --global http.proxy socks5h://me@127.0.0.1:1080\n", out.stdout)

    @unittest.skipUnless(shutil.which("git"), "needs git")
    def test_env_git_command_works_with_a_credential_helper(self):
        # The printed command, run as printed, against a running agent with [auth]: git asks for the
        # password, and its credential helper answers; ~/.gitconfig never holds it.
        target = Target()
        ferry = Ferry(["allow 127.0.0.1:%d" % target.port], agent_extra='[auth]\nusername = "me"\npassword = "s3cret"\n')
        try:
            conf = self.base.replace("127.0.0.1:0", "127.0.0.1:%d" % ferry.socks_port)
            self.write_config(conf + '[auth]\nusername = "me"\npassword = "s3cret"\n', 0o600)
            out = subprocess.run([AGENT, "env", "--git", "--config", self.conf], capture_output=True, text=True)
            command = [line for line in out.stdout.splitlines() if not line.startswith("#")]
            self.assertEqual(len(command), 1, out.stdout)
            env = dict(os.environ, HOME=self.dir, XDG_CONFIG_HOME=self.dir, GIT_TERMINAL_PROMPT="0",
                       GIT_ASKPASS="/bin/false")
            subprocess.run(command[0], shell=True, env=env, check=True)
            with open(os.path.join(self.dir, ".gitconfig")) as f:
                self.assertNotIn("s3cret", f.read())
            url = "http://127.0.0.1:%d/repo.git" % target.port
            asked = subprocess.run(["git", "ls-remote", url], env=env, capture_output=True, text=True, timeout=60)
            self.assertNotEqual(asked.returncode, 0)
            self.assertIn("could not read Password for 'socks5h://me@127.0.0.1:%d'" % ferry.socks_port, asked.stderr)
            helper = "credential.helper=!f() { test \"$1\" = get && echo password=s3cret; }; f"
            answered = subprocess.run(["git", "-c", helper, "ls-remote", url], env=env, capture_output=True,
                                      text=True, timeout=60)
            self.assertEqual(answered.returncode, 0, answered.stderr)
        finally:
            ferry.close()
            target.close()


if __name__ == "__main__":
    unittest.main()
