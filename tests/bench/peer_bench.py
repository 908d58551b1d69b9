#!/usr/bin/env python3
"""ferry side by side with its ceiling and its peers, in one run on this machine.

    python3 tests/bench/peer_bench.py [--quick] [--bin build/release] [--only ferry,ss-chacha,...]
                                      [--scenarios a,b,c,d,e,f,g,h] [--no-shaped | --shaped] [--guard]
                                      [--json FILE] [--log-dir DIR]

Contenders: direct (no proxy: the ceiling), ferry (relay + agent), ss-chacha and ss-aes
(shadowsocks-libev ss-local + ss-server), ssh and ssh-aes128 (OpenSSH `ssh -N -D` to an sshd of its
own, default cipher and aes128-gcm@openssh.com), and plain-fwd (`bench_load forward`, a user-space
forwarder pair without cryptography: scenario a only, the yardstick of ferry's CPU overhead). A
missing peer is installed with apt when this runs as root, and skipped with a note otherwise.
Scenarios:

  a  bulk: one stream, 1 GiB down and 1 GiB up, every byte checked; MB/s and CPU s/GiB of each side
  b  connection setup: 2,000 sequential connections with a 100-byte reply, through SOCKS5 and HTTP
     CONNECT; connections/s, time to first byte p50/p99, CPU per connection
  c  concurrency: 10,000 connections held, one exchange on each; RSS idle, held, after close
  d  head-of-line: 64-byte round trips on one connection, idle and during a bulk download on another,
     on loopback and over a shaped link (namespaces, 40 ms RTT, 100 Mbit/s, fq_codel; root only)
  e  this machine's single-core AEAD ceiling

a and b run three rounds (quick: one), the contenders taking turns in each; each figure reported is
the median of its rounds.
  f  time to first byte of a new connection on a shaped link at 40 and 100 ms RTT (root only): 200
     sequential connections (quick: 40), each connect + proxy handshake + a 100-byte request + the
     first byte of a 100-byte answer; SOCKS5 by name, HTTP CONNECT and absolute-form HTTP (GET
     http://NAME:PORT/), each to a cold target (a new port every time) and a warm one (the same
     host:port again); p50/p99. direct, ferry, ss-chacha, ssh-aes128
  g  loss: downloads for a fixed time (20 s, quick 5 s) on 1 and on 4 connections at 100 Mbit/s,
     40 ms RTT, with 1% random loss each way and without (root only); MB/s. direct, ferry,
     ss-chacha, ssh-aes128. Fixed time, not the issue's 256 MiB and 4 x 64 MiB: at 1% loss a
     download runs at about 1 MB/s and those would take minutes each
  h  reconnect storm: a relay of its own restarted under 1,000 simulated agents (bench_storm.py);
     only when named in --scenarios

f and g run only when asked for with --scenarios, or in a full run with the shaped link (the default
as root without --quick). The data path is bench_load (C++, in the build tree). The result is
ratios, not absolute figures: the machine is shared and noisy. --quick (small sizes, direct and ferry
only) with --guard is the regression guard run by ctest: it fails only on gross regressions, and
adds a cold-vs-warm TTFB check for ferry on a 20 ms RTT shaped link where namespaces can be made.
"""
import argparse
import atexit
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_contenders as bc  # noqa: E402
from bench_shaped import TARGET_NAME, ShapedNet  # noqa: E402
from bench_report import report  # noqa: E402
import bench_storm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GIB = 1 << 30

FULL = dict(bulk=GIB, connect=2000, hold=10000, hol_s=10.0, hol_warmup_s=1.0, shaped_idle_s=5.0,
            shaped_loaded_s=15.0, shaped_warmup_s=3.0, aead_s=1.5, settle_s=5.0, hold_deadline_s=300,
            ttfb=200, loss_s=20.0, loss_warmup_s=2.0, rounds=3)
QUICK = dict(bulk=64 << 20, connect=200, hold=500, hol_s=2.0, hol_warmup_s=0.5, shaped_idle_s=3.0,
             shaped_loaded_s=5.0, shaped_warmup_s=2.0, aead_s=0.25, settle_s=5.0, hold_deadline_s=30,
             ttfb=40, loss_s=5.0, loss_warmup_s=1.0, rounds=1)
# Scenarios a and b take seconds, and the machine's speed drifts by tens of percent over a minute (a
# neighbour on the host): they run `rounds` times, the contenders taking turns in each round, and each
# figure is the median of its rounds. So a slow minute costs every contender alike, not one alone.
ROUNDS_SCENARIOS = ("a", "b")
TTFB_RTTS_MS = (40, 100)  # scenario f
LOSS_RTT_MS, LOSS_PCT = 40, 1.0  # scenario g
# The contenders of f and g: the issue compares ferry with these only.
SHAPED_CONTENDERS = ("direct", "ferry", "ss-chacha", "ssh-aes128")
# The guard's TTFB check: a short line, so a cold target's extra round trip shows and the check is quick.
GUARD_TTFB_RTT_MS, GUARD_TTFB_COUNT = 20, 20
# Ports of the target in a namespace of its own: --ports N from here (the cold targets of f).
SHAPED_TARGET_PORT = 30000


def raise_nofile_limit():
    """10,000 held connections need more than 1,024 descriptors, in this process's children too.
    Returns the limit they get."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass  # root without CAP_SYS_RESOURCE (a container) cannot raise the hard limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def ensure_peers(wanted, notes):
    """As root, installs the peers' packages when a wanted peer is missing."""
    need = []
    if any(n.startswith("ss-") for n in wanted) and not (shutil.which("ss-local") and shutil.which("ss-server")):
        need.append("shadowsocks-libev")
    if any(n.startswith("ssh") for n in wanted) and not (os.path.exists(bc.SSHD) and shutil.which("ssh")):
        need += ["openssh-server", "openssh-client"]
    ensure_packages(need, notes)


def ensure_packages(need, notes):
    if not need:
        return
    if os.geteuid() != 0:
        notes.append("not root: not installing %s" % " ".join(need))
        return
    bc.note("installing " + " ".join(need))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        p = subprocess.run(["apt-get", "install", "-y"] + need, capture_output=True, text=True, env=env, timeout=600)
        if p.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
            p = subprocess.run(["apt-get", "install", "-y"] + need, capture_output=True, text=True, env=env, timeout=600)
        if p.returncode != 0:
            notes.append("apt-get install %s failed: %s" % (" ".join(need), p.stderr.strip()[-300:]))
    except (OSError, subprocess.TimeoutExpired) as e:
        notes.append("apt-get install %s failed: %s" % (" ".join(need), e))


def median_of(results):
    """One result from several of the same shape: numbers become their median; dicts merge key by
    key; anything else is taken from the first."""
    first = results[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in results if isinstance(r, dict) and k in r]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool) and \
            all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in results):
        return statistics.median(results)
    return first


class Unavailable(Exception):
    """A shaped link that cannot be made here (not root, no namespaces): a note, not a failure."""


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = QUICK if args.quick else FULL
        self.bin = os.path.abspath(args.bin)
        self.load = os.path.join(self.bin, "tests", "bench", "bench_load")
        self.workdir = bc.make_workdir(args.log_dir)
        self.notes = []
        self.results = {}
        self.machine = {}
        self.shaped = []  # every ShapedNet alive, for the cleanup on any exit
        self.target_procs = {}

    # ---- plumbing ----

    def client(self, net, c, args, kind="socks", timeout=600):
        target = self.targets[net.name]
        base = ["--target", "%s:%d" % target, "--proxy", c.proxy(kind)]
        lines = bc.run_client(self.load, net.laptop, args[:1] + base + args[1:], timeout)
        return lines[-1] if args[0] != "aead" else lines

    def start_target(self, net, ports=1):
        """The target server of `net`; with `ports` > 1 (a namespace of its own) on that many ports."""
        listen = net.office_ip + (":%d" % SHAPED_TARGET_PORT if ports > 1 else ":0")
        proc = bc.Proc(net.office.cmd([self.load, "serve", "--listen", listen, "--ports", str(ports)]),
                       os.path.join(self.workdir, "target-%s.log" % net.name))
        addr, = proc.wait_log(r"listening on (\S+)")
        ip, port = addr.rsplit(":", 1)
        self.targets[net.name] = (ip, int(port))
        self.target_procs[net.name] = proc
        net.target_ports = ports

    @contextlib.contextmanager
    def shaped_net(self, delay_ms, loss_pct=0.0, target_ports=1):
        """A shaped link of its own with its target server, deleted on the way out. Raises
        Unavailable where it cannot be made."""
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root")
        if not shutil.which("ethtool"):
            ensure_packages(["ethtool"], self.notes)
        shaped = ShapedNet(delay_ms=delay_ms, loss_pct=loss_pct)
        self.shaped.append(shaped)
        try:
            try:
                shaped.create(self.load, self.workdir)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, RuntimeError) as e:
                detail = e.stderr.decode(errors="replace").strip() if getattr(e, "stderr", None) else str(e)
                raise Unavailable("%s: %s" % (" ".join(getattr(e, "cmd", []) or []), detail)) from e
            self.notes += [n for n in shaped.notes if n not in self.notes]
            net = shaped.net
            self.start_target(net, target_ports)
            yield net
        finally:
            proc = self.target_procs.pop(shaped.net.name, None) if shaped.net else None
            if proc:
                proc.stop()
            shaped.destroy()
            self.shaped.remove(shaped)

    @staticmethod
    def taking_part(chosen, scenario, only=None):
        return [c for c in chosen if (c.scenarios is None or scenario in c.scenarios) and (only is None or c.name in only)]

    def wait_ready(self, c, net):
        """Until one exchange through the contender works (at most 20 s)."""
        if isinstance(c, bc.Direct):
            return
        deadline = time.time() + 20
        while True:
            r = self.client(net, c, ["connect", "--count", "1", "--timeout-ms", "3000"], timeout=10)
            if r.get("ok") == 1:
                return
            if time.time() > deadline:
                raise RuntimeError("%s never became ready: %s" % (c.name, r.get("error")))
            time.sleep(0.1)

    def run_with(self, c, net, scenario, fn, round_=None):
        """Starts `c` afresh on `net`, runs fn(c, net), records its result or its failure, stops `c`.
        With `round_`, the result is one of several rounds, which merge_rounds() makes one."""
        bc.note("%s: %s on %s%s" % (scenario, c.name, net.name, "" if round_ is None else " (round %d)" % (round_ + 1)))
        res = self.results.setdefault(c.name, {})
        try:
            c.start(net, self.targets[net.name])
            self.wait_ready(c, net)
            out = fn(c, net)
        except Exception as e:  # noqa: BLE001 - one contender's failure is a result, not the end of the run
            out = {"error": str(e)[-600:]}
            bc.note("%s: %s failed: %s" % (scenario, c.name, str(e)[-300:]))
        finally:
            c.stop()
        if round_ is None:
            res[scenario] = out
        else:
            res.setdefault("rounds", {}).setdefault(scenario, []).append(out)

    def merge_rounds(self, scenario):
        """Each contender's rounds of `scenario` as one result: every figure the median of the rounds
        that did not fail (each figure on its own, so the median MB/s and the median CPU may come
        from different rounds). All failed: the last failure."""
        for res in self.results.values():
            rounds = res.get("rounds", {}).pop(scenario, None)
            if rounds is None:
                continue
            good = [r for r in rounds if "error" not in r]
            res[scenario] = median_of(good) if good else rounds[-1]
            if len(rounds) > 1:
                res[scenario]["rounds"] = "%d of %d" % (len(good), len(rounds))

    @staticmethod
    def sides(c):
        return bc.cpu_seconds(c.laptop_pids()), bc.cpu_seconds(c.office_pids())

    # ---- scenarios ----

    def bulk(self, c, net):
        out = {}
        n = self.size["bulk"]
        self.client(net, c, ["bulk", "--down", str(min(n, 16 << 20))])  # warm-up
        for direction in ("down", "up"):
            l0, o0 = self.sides(c)
            r = self.client(net, c, ["bulk", "--" + direction, str(n)])
            l1, o1 = self.sides(c)
            out[direction] = dict(r, cpu_laptop=(l1 - l0) * GIB / n, cpu_office=(o1 - o0) * GIB / n)
        return out

    def connect(self, c, net):
        out = {}
        n = self.size["connect"]
        for kind in ("socks", "http"):
            if c.proxy(kind) is None:
                continue
            self.client(net, c, ["connect", "--count", str(max(20, n // 20))], kind)  # warm-up
            l0, o0 = self.sides(c)
            r = self.client(net, c, ["connect", "--count", str(n)], kind)
            l1, o1 = self.sides(c)
            out[kind] = dict(r, cpu_laptop_us=(l1 - l0) * 1e6 / n, cpu_office_us=(o1 - o0) * 1e6 / n)
        return out

    def hold(self, c, net):
        n = self.size["hold"]
        self.client(net, c, ["connect", "--count", "20"])  # warm-up
        time.sleep(1.0)
        rss = lambda: (bc.rss_kib(c.laptop_pids()), bc.rss_kib(c.office_pids()))  # noqa: E731
        out = {"count": n, "idle": rss()}
        target = self.targets[net.name]
        h = bc.HoldClient(self.load, net.laptop, ["--target", "%s:%d" % target, "--proxy", c.proxy(), "--count", str(n),
                                                  "--parallel", "16", "--deadline-s", str(self.size["hold_deadline_s"]),
                                                  "--timeout-ms", "10000"])
        try:
            out["open"] = h.next_stage(timeout=900)
            out["held"] = rss()
            h.go_on()
            out["exchange"] = h.next_stage(timeout=300)
            out["used"] = rss()  # every connection has now carried one message each way
            h.go_on()
            h.next_stage(timeout=300)
            # ferry returns a link's batch buffers after 2.5 s of quiet; give every program 5 s to give back.
            time.sleep(self.size["settle_s"])
            out["after"] = rss()
        finally:
            h.close()
        return out

    def ttfb(self, count, paths=("socks", "connect", "absolute"), temps=("cold", "warm")):
        """Scenario f on `net`: each path to cold targets (ports never used before by this contender)
        and to a warm one (the base port, after a connection not counted)."""
        def run(c, net):
            ip, base = self.targets[net.name]
            cold_port = base + 1
            out = {}
            for path in paths:
                url = c.proxy("socks" if path == "socks" else "http")
                if url is None or (isinstance(c, bc.Direct) and path != "socks"):
                    continue  # no HTTP port; direct has no proxy to speak HTTP to
                if url.startswith("socks5://"):
                    url = "socks5h://" + url[len("socks5://"):]  # by name: the office resolves it
                for temp in temps:
                    port = cold_port if temp == "cold" else base
                    args = ["ttfb", "--target", "%s:%d" % (ip, port), "--proxy", url, "--target-name", TARGET_NAME,
                            "--count", str(count), "--timeout-ms", "10000"]
                    args += (["--cold"] if temp == "cold" else []) + (["--absolute"] if path == "absolute" else [])
                    # Bounded: at most 5 failures of 10 s each, and the connections themselves.
                    out["%s_%s" % (path, temp)] = bc.run_client(self.load, net.laptop, args, 90 + 2 * count)[-1]
                    if temp == "cold":
                        cold_port += count
            out["rtt_ms"] = net.rtt_ms
            return out
        return run

    def downloads(self, seconds, warmup_s):
        """Scenario g on `net`: fixed-time downloads on one connection, then on four, each measured
        from `warmup_s` after the connections opened."""
        def run(c, net):
            out = {"rtt_ms": net.rtt_ms}
            for parallel in (1, 4):
                out["p%d" % parallel] = self.client(net, c, ["bulk", "--seconds", str(seconds), "--parallel",
                                                             str(parallel), "--warmup-s", str(warmup_s)],
                                                    timeout=seconds + warmup_s + 120)
            return out
        return run

    def hol(self, idle_s, loaded_s, warmup_s):
        def run(c, net):
            self.client(net, c, ["connect", "--count", "5"])  # warm-up
            idle = self.client(net, c, ["hol", "--seconds", str(idle_s)], timeout=idle_s + 120)
            loaded = self.client(net, c, ["hol", "--seconds", str(loaded_s), "--bulk", "--warmup-s", str(warmup_s)],
                                 timeout=loaded_s + warmup_s + 120)
            return {"idle": idle, "loaded": loaded}
        return run

    # ---- the run ----

    def contenders(self):
        everyone = bc.all_contenders(self.bin, self.args.ferry_links)
        default = "direct,ferry" if self.args.quick else ",".join(c.name for c in everyone)
        wanted = (self.args.only or default).split(",")
        unknown = set(wanted) - {c.name for c in everyone}
        if unknown:
            sys.exit("unknown contender(s): %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(c.name for c in everyone)))
        ensure_peers(wanted, self.notes)
        chosen = []
        for c in everyone:
            if c.name not in wanted:
                continue
            why = c.setup(self.workdir)
            if why:
                self.notes.append("%s skipped: %s" % (c.name, why))
            else:
                chosen.append(c)
        return chosen

    def run(self):
        started = time.time()
        self.machine["load_start"] = "%.1f" % os.getloadavg()[0]
        want_shaped = self.args.shaped if self.args.shaped is not None else not self.args.quick
        default = "a,b,c,d,e,f,g" if want_shaped else "a,b,c,d,e"
        scenarios = set((self.args.scenarios or default).split(","))
        self.targets = {}
        chosen = self.contenders()
        self.order = [c.name for c in chosen]
        self.start_target(bc.LOOPBACK)
        self.collect_machine()
        loop = bc.LOOPBACK
        if "e" in scenarios:
            bc.note("e: AEAD ceiling")
            self.aead = [l for l in self.client(loop, bc.Direct(), ["aead", "--seconds", str(self.size["aead_s"])])
                         if l.get("scenario") == "aead"]
        for key, fn in (("a", self.bulk), ("b", self.connect), ("c", self.hold)):
            if key not in scenarios:
                continue
            if key not in ROUNDS_SCENARIOS:
                for c in self.taking_part(chosen, key):
                    self.run_with(c, loop, key, fn)
                continue
            if self.size["rounds"] > 1:
                self.notes.append("%s: each figure is the median of %d rounds, the contenders taking turns in each"
                                  % (key, self.size["rounds"]))
            for round_ in range(self.size["rounds"]):
                for c in self.taking_part(chosen, key):
                    self.run_with(c, loop, key, fn, round_)
            self.merge_rounds(key)
        if "d" in scenarios:
            hol = self.hol(self.size["hol_s"], self.size["hol_s"], self.size["hol_warmup_s"])
            for c in self.taking_part(chosen, "d"):
                self.run_with(c, loop, "d", hol)
            if want_shaped:
                hol = self.hol(self.size["shaped_idle_s"], self.size["shaped_loaded_s"], self.size["shaped_warmup_s"])
                self.on_shaped("d", 20, 0.0, 1, [("d_shaped", self.taking_part(chosen, "d"), hol)])
        if "f" in scenarios:
            n = self.size["ttfb"]
            for rtt in TTFB_RTTS_MS:
                self.on_shaped("f", rtt / 2, 0.0, 3 * n + 8,
                               [("f%d" % rtt, self.taking_part(chosen, "f", SHAPED_CONTENDERS), self.ttfb(n))])
        if "g" in scenarios:
            run = self.downloads(self.size["loss_s"], self.size["loss_warmup_s"])
            for key, loss in (("g_loss", LOSS_PCT), ("g_clean", 0.0)):
                self.on_shaped("g", LOSS_RTT_MS / 2, loss, 1,
                               [(key, self.taking_part(chosen, "g", SHAPED_CONTENDERS), run)])
        if self.args.guard and "ferry" in self.order:
            self.guard_ttfb(next(c for c in chosen if c.name == "ferry"))
        if "h" in scenarios:  # opt-in: a relay of its own and 1,000 simulated agents (bench_storm.py)
            bench_storm.print_report(bench_storm.run_storm(self.bin, note=bc.note))
        self.labels = {c.name: c.label for c in chosen}
        # The crypto floor is two passes of the cipher ferry's link negotiated in this run.
        ferry = next((c for c in chosen if c.name == "ferry"), None)
        if ferry is not None and ferry.negotiated and self.machine.get("ferry_aead", "").startswith("OpenSSL"):
            self.machine["ferry_aead"] = "OpenSSL " + ferry.negotiated
        self.machine["load_end"] = "%.1f" % os.getloadavg()[0]
        self.elapsed = time.time() - started

    def on_shaped(self, scenario, delay_ms, loss_pct, target_ports, runs):
        """Makes one shaped link and runs each (key, contenders, fn) of `runs` on it."""
        try:
            with self.shaped_net(delay_ms, loss_pct, target_ports) as net:
                for key, contenders, fn in runs:
                    for c in contenders:
                        self.run_with(c, net, key, fn)
        except Unavailable as e:
            self.notes.append("%s: shaped link skipped: %s" % (scenario, e))

    def guard_ttfb(self, ferry):
        """The guard's check of early replies: ferry's SOCKS5 TTFB to cold and to warm targets on a
        short shaped line. Where namespaces cannot be made, a note and no verdict."""
        self.on_shaped("guard TTFB", GUARD_TTFB_RTT_MS / 2, 0.0, GUARD_TTFB_COUNT + 8,
                       [("f_guard", [ferry], self.ttfb(GUARD_TTFB_COUNT, paths=("socks",)))])

    def collect_machine(self):
        m = self.machine
        try:
            with open("/proc/cpuinfo") as f:
                m["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
            with open("/proc/meminfo") as f:
                m["memory"] = "%.0f GiB" % (int(f.readline().split()[1]) / (1 << 20))
        except OSError:
            pass
        m["cores"] = os.cpu_count()
        try:
            with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
                m["tcp_cc"] = f.read().strip()
        except OSError:
            m["tcp_cc"] = "?"
        m["kernel"] = platform.release()
        try:
            with open("/etc/debian_version") as f:
                m["debian"] = f.read().strip()
        except OSError:
            pass

        def first_line(argv, stderr=False):
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                text = (p.stderr if stderr else p.stdout) or p.stdout or p.stderr
                return next((l.strip() for l in text.splitlines() if l.strip()), "?")
            except (OSError, subprocess.TimeoutExpired):
                return "not installed"
        rev = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
        m["ferry"] = "%s (git %s)" % (first_line([os.path.join(self.bin, "ferry-agent"), "--version"]), rev)
        m["shadowsocks"] = first_line(["ss-server", "-h"])
        m["openssh"] = first_line(["ssh", "-V"], stderr=True)
        m["libuv"] = first_line(["dpkg-query", "-W", "-f", "${Version}", "libuv1"])
        versions = [l for l in self.client(bc.LOOPBACK, bc.Direct(), ["aead", "--seconds", "0"])
                    if l.get("scenario") == "versions"] if "loopback" in self.targets else []
        if versions:
            m["libsodium"], m["openssl"] = versions[0]["libsodium"], versions[0]["openssl"]
        try:
            linked = subprocess.run(["ldd", os.path.join(self.bin, "ferry-relay")], capture_output=True, text=True,
                                    timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            linked = ""
        # Which AEAD ferry's link uses, for the crypto floor: libcrypto once it links it, else libsodium.
        m["ferry_aead"] = "OpenSSL chacha20-poly1305" if "libcrypto" in linked else "libsodium chacha20poly1305_ietf"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes; direct and ferry unless --only")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "release"), help="the build tree")
    ap.add_argument("--only", help="comma-separated contenders: direct,ferry,ss-chacha,ss-aes,ssh,ssh-aes128,plain-fwd")
    ap.add_argument("--scenarios", help="comma-separated: a,b,c,d,e,f,g,h (default a-g; f and g need the shaped link, "
                                        "h, the reconnect storm of bench_storm.py, runs only when named)")
    ap.add_argument("--shaped", dest="shaped", action="store_true", default=None, help="run the shaped link (root)")
    ap.add_argument("--no-shaped", dest="shaped", action="store_false", help="skip the shaped link")
    ap.add_argument("--ferry-links", type=int, help="agent.toml [relay] links for ferry (default: the agent's)")
    ap.add_argument("--guard", action="store_true", help="exit 1 on a gross regression of ferry against direct")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--log-dir", help="where logs and generated keys go (default: a new temporary directory)")
    args = ap.parse_args()

    nofile = raise_nofile_limit()
    bench = Bench(args)
    if nofile != -1 and nofile < 2 * bench.size["hold"] + 256:
        bench.notes.append("open files are limited to %d here (the hard limit cannot be raised); a proxy that "
                           "needs two descriptors per connection (ss-local, ss-server) cannot hold %d"
                           % (nofile, bench.size["hold"]))
    if not os.access(bench.load, os.X_OK):
        sys.exit("no %s: build first (cmake --build %s)" % (bench.load, args.bin))

    def cleanup():
        bc.kill_all()
        for shaped in list(bench.shaped):
            shaped.destroy()
    atexit.register(cleanup)
    # Ctrl-C, kill and a closed terminal all run the finally below (and atexit): processes killed,
    # namespaces deleted. SIGINT is set explicitly: a shell ignores it in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    try:
        bench.run()
    except KeyboardInterrupt:
        bc.note("interrupted: stopping everything")
        return 130
    finally:
        cleanup()
    command = "python3 " + " ".join([os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]]
                                    + sys.argv[1:])
    ok = report(bench, command)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": bench.machine, "results": bench.results, "aead": getattr(bench, "aead", []),
                       "notes": bench.notes, "seconds": bench.elapsed}, f, indent=1)
    if not args.log_dir and ok:
        shutil.rmtree(bench.workdir, ignore_errors=True)
    else:
        print("logs: " + bench.workdir)
    return 0 if ok or not args.guard else 1


if __name__ == "__main__":
    sys.exit(main())
