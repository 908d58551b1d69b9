"""The contenders of peer_bench.py and the machinery they run on: processes with their logs in files,
CPU and memory read from /proc, and the places they run in (loopback, or the namespaces of the
shaped link in bench_shaped.py).

Every process started here is registered and killed by kill_all(); every wait has a timeout.
"""
import base64
import json
import os
import pwd
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SSHD = "/usr/sbin/sshd"
_procs = []


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


# ---- processes ----

class Proc:
    """A long-running process whose stdout and stderr go to one log file."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.argv = argv
        with open(log_path, "ab") as log:
            log.write(("\n== %s\n" % " ".join(argv)).encode())
            log.flush()
            self._start = log.tell()
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        _procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def log_text(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._start)
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, count=1, timeout=15.0):
        """Returns the first `count` matches of `pattern` in this process's log, waiting at most `timeout`."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            found = rx.findall(self.log_text())
            if len(found) >= count:
                return found[:count]
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError("%s: no %d lines matching %r (exit %s); log %s:\n%s" % (
                    os.path.basename(self.argv[0]), count, pattern, self.p.poll(), self.log_path, self.log_text()[-2000:]))
            time.sleep(0.02)

    def stop(self, timeout=10.0):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if self in _procs:
            _procs.remove(self)


def kill_all():
    for p in list(_procs):
        try:
            p.stop(timeout=5)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass


# ---- /proc ----

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def tree(pid):
    """`pid` and all its descendants (sshd's per-connection processes)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """CPU time of the processes, all threads, user + system. The scheduler's nanosecond count
    (/proc/PID/task/TID/schedstat) when there is one; /proc/PID/stat's clock ticks (10 ms) otherwise."""
    total = 0.0
    for pid in pids:
        try:
            ns = [int(open("/proc/%d/task/%s/schedstat" % (pid, t)).read().split()[0])
                  for t in os.listdir("/proc/%d/task" % pid)]
            if sum(ns) > 0:
                total += sum(ns) / 1e9
                continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            f = _stat_fields(pid)
            total += (int(f[11]) + int(f[12])) / CLK_TCK  # utime, stime (all threads)
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


# ---- where things run ----

class Place:
    """Loopback in this namespace (ns None), or inside a network namespace."""

    def __init__(self, ns=None):
        self.ns = ns

    def cmd(self, argv):
        return (["ip", "netns", "exec", self.ns] if self.ns else []) + list(argv)


class Net:
    """The two ends of a contender: the laptop (client, agent) and the office (relay, target)."""

    def __init__(self, name, laptop, office, office_ip):
        self.name, self.laptop, self.office, self.office_ip = name, laptop, office, office_ip
        self._next_port = 20000

    def port(self):
        """A port to listen on: a free one on loopback, or the next unused one in a fresh namespace."""
        if self.office.ns:
            self._next_port += 1
            return self._next_port
        with socket.socket() as s:  # programs that cannot report port 0 get a free one (a harmless race)
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


LOOPBACK = Net("loopback", Place(), Place(), "127.0.0.1")


# ---- the contenders ----

class Contender:
    """One way of reaching the target. `laptop` and `office` return the pids of each side."""
    name = label = ""
    socks = http = None  # proxy URLs once started; None where the contender has no such port
    scenarios = None  # the scenarios it takes part in; None: all

    def setup(self, workdir):
        """Once per run: keys, configs. Returns None, or why this contender cannot run."""
        return None

    def start(self, net, target):
        """Starts both sides so that the proxy ports reach `target` (ip, port) on `net`."""

    def stop(self):
        pass

    def laptop_pids(self):
        return []

    def office_pids(self):
        return []

    def proxy(self, kind="socks"):
        return self.socks if kind == "socks" else self.http


class Direct(Contender):
    name, label = "direct", "direct"

    def proxy(self, kind="socks"):
        return "none"


class Ferry(Contender):
    name, label = "ferry", "ferry"

    def __init__(self, bin_dir, links=None):
        self.relay_bin = os.path.join(bin_dir, "ferry-relay")
        self.agent_bin = os.path.join(bin_dir, "ferry-agent")
        self.links = links  # agent.toml [relay] links; None: the agent's default
        self.relay = self.agent = None
        self.negotiated = None  # the link's cipher suite, from the agent's "link up" line

    def setup(self, workdir):
        if not (os.access(self.relay_bin, os.X_OK) and os.access(self.agent_bin, os.X_OK)):
            return "no ferry-relay/ferry-agent in the build directory"
        self.dir = os.path.join(workdir, "ferry")
        os.makedirs(self.dir)
        self.relay_pub = self._keygen(self.relay_bin, "relay.key")
        self.agent_pub = self._keygen(self.agent_bin, "agent.key")
        self.logs = workdir
        return None

    def _keygen(self, binary, name):
        out = subprocess.run([binary, "keygen", "--out", os.path.join(self.dir, name)], check=True,
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip()

    def start(self, net, target):
        ip, port = target
        last = port + getattr(net, "target_ports", 1) - 1  # the cold targets of scenario f
        relay_toml = os.path.join(self.dir, "relay.toml")
        with open(relay_toml, "w") as f:
            # Room for the 10,000 held connections of scenario c (the default allows 4,096 per agent).
            f.write('listen = "%s:0"\nprivate_key_file = "relay.key"\n[limits]\nmax_streams_per_agent = 20000\n'
                    '[policy]\nrules = ["allow %s:%d-%d"]\n[[agents]]\nname = "bench"\npublic_key = "%s"\n'
                    % (net.office_ip, ip, port, last, self.agent_pub))
        self.relay = Proc(net.office.cmd([self.relay_bin, "--config", relay_toml]), os.path.join(self.logs, "ferry-relay.log"))
        relay_addr, = self.relay.wait_log(r"(?<!admin )listening on (\S+)")
        agent_toml = os.path.join(self.dir, "agent.toml")
        with open(agent_toml, "w") as f:
            f.write('private_key_file = "agent.key"\n[relay]\naddress = "%s"\npublic_key = "%s"\n%s'
                    '[http]\nlisten = "127.0.0.1:0"\n[socks]\nlisten = "127.0.0.1:0"\n'
                    % (relay_addr, self.relay_pub, "links = %d\n" % self.links if self.links else ""))
        self.agent = Proc(net.laptop.cmd([self.agent_bin, "--config", agent_toml]), os.path.join(self.logs, "ferry-agent.log"))
        http_addr, socks_addr = self.agent.wait_log(r"listening on (\S+)", count=2)
        suite, = self.agent.wait_log(r"link up to \S+ \(([^,)]+)")
        # Every link of the agent's pool up before anything is measured (they connect one at a time).
        if self.links != 1:
            total, = self.agent.wait_log(r"link \d+ of (\d+) up")
            self.agent.wait_log(r"link %s of %s up" % (total, total))
        if self.negotiated is None:
            self.negotiated = suite
            self.label = "%s (%s)" % (self.name, suite)
        self.http, self.socks = "http://" + http_addr, "socks5://" + socks_addr

    def stop(self):
        for p in (self.agent, self.relay):
            if p:
                p.stop()
        self.agent = self.relay = None

    def laptop_pids(self):
        return [self.agent.pid] if self.agent else []

    def office_pids(self):
        return [self.relay.pid] if self.relay else []


class Shadowsocks(Contender):
    """ss-local + ss-server (shadowsocks-libev), TCP only (-u off), TCP_NODELAY on (--no-delay), as
    a latency-minded operator would run it. ss-local speaks SOCKS5 only: it has no HTTP port."""

    def __init__(self, name, method):
        self.name, self.label, self.method = name, "%s (%s)" % (name, method), method
        self.server = self.local = None

    def setup(self, workdir):
        if not (shutil.which("ss-local") and shutil.which("ss-server")):
            return "shadowsocks-libev is not installed"
        self.password = base64.b64encode(os.urandom(18)).decode()
        self.logs = workdir
        return None

    def start(self, net, target):
        port, local_port = net.port(), net.port()
        common = ["-k", self.password, "-m", self.method, "--no-delay"]
        self.server = Proc(net.office.cmd(["ss-server", "-s", net.office_ip, "-p", str(port)] + common),
                           os.path.join(self.logs, self.name + "-server.log"))
        self.local = Proc(net.laptop.cmd(["ss-local", "-s", net.office_ip, "-p", str(port), "-b", "127.0.0.1", "-l",
                                          str(local_port)] + common), os.path.join(self.logs, self.name + "-local.log"))
        self.socks = "socks5://127.0.0.1:%d" % local_port

    def stop(self):
        for p in (self.local, self.server):
            if p:
                p.stop()
        self.local = self.server = None

    def laptop_pids(self):
        return [self.local.pid] if self.local else []

    def office_pids(self):
        return [self.server.pid] if self.server else []


class Ssh(Contender):
    """OpenSSH `ssh -N -D` to an sshd of its own (keys generated for the run), compression off.
    SOCKS5 only. The office side is sshd with every per-connection process it forks."""

    def __init__(self, name, cipher=None):
        self.name, self.cipher = name, cipher
        self.label = name
        self.sshd = self.ssh = None
        self.negotiated = None

    def setup(self, workdir):
        if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
            return "openssh-server/openssh-client is not installed"
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir)
        for key in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.dir, key)],
                           check=True, timeout=20)
        shutil.copy(os.path.join(self.dir, "user_key.pub"), os.path.join(self.dir, "authorized_keys"))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        self.logs = workdir
        return None

    def _client_argv(self, port, ip, extra):
        user = pwd.getpwuid(os.geteuid()).pw_name
        argv = ["ssh", "-F", "/dev/null", "-i", os.path.join(self.dir, "user_key"), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "Compression=no",
                "-o", "ExitOnForwardFailure=yes", "-p", str(port)]
        if self.cipher:
            argv += ["-c", self.cipher]
        return argv + extra + ["%s@%s" % (user, ip)]

    def start(self, net, target):
        port, local_port = net.port(), net.port()
        cfg = os.path.join(self.dir, "sshd_config")
        with open(cfg, "w") as f:
            f.write("ListenAddress %s:%d\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"
                    "PidFile %s/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                    "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nUseDNS no\n"
                    % (net.office_ip, port, self.dir, self.dir, self.dir))
        self.sshd = Proc(net.office.cmd([SSHD, "-D", "-e", "-f", cfg]), os.path.join(self.logs, self.name + "-sshd.log"))
        self.sshd.wait_log(r"Server listening")
        if self.negotiated is None:  # once: which cipher the pair really uses
            out = subprocess.run(net.laptop.cmd(self._client_argv(port, net.office_ip, ["-v"]) + ["true"]),
                                 capture_output=True, text=True, timeout=30)
            m = re.search(r"kex: server->client cipher: (\S+)", out.stderr)
            self.negotiated = m.group(1) if m else "unknown"
            self.label = "%s (%s)" % (self.name, self.negotiated)
        self.ssh = Proc(net.laptop.cmd(self._client_argv(port, net.office_ip, ["-N", "-D", "127.0.0.1:%d" % local_port])),
                        os.path.join(self.logs, self.name + "-client.log"))
        self.socks = "socks5://127.0.0.1:%d" % local_port

    def stop(self):
        for p in (self.ssh, self.sshd):
            if p:
                p.stop()
        self.ssh = self.sshd = None

    def laptop_pids(self):
        return [self.ssh.pid] if self.ssh else []

    def office_pids(self):
        return tree(self.sshd.pid) if self.sshd else []


class PlainForward(Contender):
    """`bench_load forward`: a user-space TCP forwarder pair without any cryptography (SOCKS5 on the
    laptop side, the target dialled by the office side), epoll and 64 KiB reads as ferry. Not a peer:
    the yardstick of ferry's CPU overhead in bulk, so it runs scenario a only."""
    name, label = "plain-fwd", "plain-fwd (no crypto)"
    scenarios = ("a",)

    def __init__(self, bin_dir):
        self.bench_load = os.path.join(bin_dir, "tests", "bench", "bench_load")
        self.office = self.laptop = None

    def setup(self, workdir):
        self.logs = workdir
        return None if os.access(self.bench_load, os.X_OK) else "no bench_load in the build directory"

    def start(self, net, target):
        self.office = Proc(net.office.cmd([self.bench_load, "forward", "--listen", net.office_ip + ":0"]),
                           os.path.join(self.logs, "plain-fwd-office.log"))
        office_addr, = self.office.wait_log(r"forward listening on (\S+)")
        self.laptop = Proc(net.laptop.cmd([self.bench_load, "forward", "--listen", "127.0.0.1:0", "--office",
                                           office_addr]), os.path.join(self.logs, "plain-fwd-laptop.log"))
        local, = self.laptop.wait_log(r"forward listening on (\S+)")
        self.socks = "socks5://" + local

    def stop(self):
        for p in (self.laptop, self.office):
            if p:
                p.stop()
        self.laptop = self.office = None

    def laptop_pids(self):
        return [self.laptop.pid] if self.laptop else []

    def office_pids(self):
        return [self.office.pid] if self.office else []


def all_contenders(bin_dir, ferry_links=None):
    return [Direct(), Ferry(bin_dir, ferry_links), Shadowsocks("ss-chacha", "chacha20-ietf-poly1305"),
            Shadowsocks("ss-aes", "aes-256-gcm"), Ssh("ssh"), Ssh("ssh-aes128", "aes128-gcm@openssh.com"),
            PlainForward(bin_dir)]


# ---- bench_load clients ----

def run_client(bench_load, place, args, timeout):
    """Runs one bench_load client and returns its JSON lines (a failure becomes an error line)."""
    argv = place.cmd([bench_load] + args)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"ok": False, "error": "timed out after %ds: %s" % (timeout, " ".join(args))}]
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        lines = [{"ok": False, "error": "exit %d: %s" % (out.returncode, out.stderr.strip()[-500:])}]
    return lines


class HoldClient:
    """`bench_load hold`, stepped by the caller: each stage's JSON line is returned by next_stage()."""

    def __init__(self, bench_load, place, args):
        self.p = subprocess.Popen(place.cmd([bench_load, "hold"] + args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def next_stage(self, timeout):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            return {"ok": 0, "error": "no answer within %ds" % timeout}
        if line is None:
            return {"ok": 0, "error": "hold client ended: " + self.p.stderr.read()[-500:]}
        return json.loads(line)

    def go_on(self):
        try:
            self.p.stdin.write("go\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(10)


def make_workdir(path=None):
    if path:
        os.makedirs(path, exist_ok=True)
        return path
    return tempfile.mkdtemp(prefix="peer-bench-")
