"""The shaped links of scenarios d, f and g: three network namespaces, a delay each way, random loss
if asked, and a 100 Mbit/s bottleneck behind fq_codel. Created per use under unique names, and
always deleted."""
import itertools
import os
import shutil
import subprocess

from bench_contenders import Net, Place, Proc

TARGET_NAME = "target.bench"  # what the office's resolver answers with the target's address
_serial = itertools.count()


class ShapedNet:
    """laptop ── router ── office in three namespaces: 20 ms of delay each way (40 ms RTT) by
    default, then a 100 Mbit/s bottleneck behind fq_codel in both directions, where codel sees the
    bottleneck's queue and never the delay line. `loss_pct` drops that share of the packets at random,
    each direction on its own. The office's /etc/hosts names the target TARGET_NAME (a per-namespace
    file that `ip netns exec` mounts), so proxies can be asked for it by name.

    With netem and fq_codel in the kernel ("tc"): the router routes; netem delays the laptop's and the
    office's egress, htb + fq_codel shape the router's egress. Without them ("linkem", e.g. a kernel
    built without CONFIG_NET_SCH_NETEM): the router bridges its two interfaces through
    `bench_load linkem`, which does the same in user space (see load_linkem.cpp)."""

    def __init__(self, delay_ms=20, rate_mbit=100, loss_pct=0.0):
        p = "fb%d%s" % (os.getpid(), next(_serial))  # unique per net: several are made in one run
        self.ns = {"laptop": p + "l", "router": p + "r", "office": p + "o"}
        self.dev = {"laptop": p + "a", "router_l": p + "b", "router_o": p + "c", "office": p + "d"}
        self.delay_ms, self.rate_mbit, self.loss_pct = delay_ms, rate_mbit, loss_pct
        self.hosts_dir = None
        self.created = []
        self.notes = []
        self.mode = None
        self.net = None
        self.linkem = None

    def _sh(self, *cmd):
        subprocess.run(cmd, check=True, capture_output=True, timeout=20)

    def _in(self, where, *cmd):
        self._sh("ip", "netns", "exec", self.ns[where], *cmd)

    def _kernel_qdiscs(self):
        """Whether this kernel has netem and fq_codel (tried on the router's loopback)."""
        for qdisc in (["netem", "delay", "1ms"], ["fq_codel"]):
            try:
                self._in("router", "tc", "qdisc", "replace", "dev", "lo", "root", *qdisc)
            except subprocess.CalledProcessError:
                return False
        subprocess.run(["ip", "netns", "exec", self.ns["router"], "tc", "qdisc", "del", "dev", "lo", "root"],
                       capture_output=True, timeout=20)
        return True

    def create(self, bench_load, log_dir):
        for name in self.ns.values():
            self._sh("ip", "netns", "add", name)
            self.created.append(name)
        self.hosts_dir = os.path.join("/etc/netns", self.ns["office"])
        os.makedirs(self.hosts_dir, exist_ok=True)
        d, n = self.dev, self.ns
        self._sh("ip", "link", "add", d["laptop"], "netns", n["laptop"], "type", "veth", "peer", "name", d["router_l"],
                 "netns", n["router"])
        self._sh("ip", "link", "add", d["router_o"], "netns", n["router"], "type", "veth", "peer", "name", d["office"],
                 "netns", n["office"])
        for where in self.ns:
            self._in(where, "ip", "link", "set", "lo", "up")
        self.mode = "tc" if self._kernel_qdiscs() else "linkem"
        if self.mode == "tc":
            self._routed()
        else:
            self._bridged(bench_load, log_dir)

    def _offloads_off(self, where, dev):
        # Real links carry MTU-sized packets: without segmentation offloads the shaper and codel see
        # 1,500-byte packets, not 64 KiB super-packets, and checksums are complete on the wire.
        if not shutil.which("ethtool"):
            raise RuntimeError("ethtool is needed to turn segmentation offloads off")
        self._in(where, "ethtool", "-K", self.dev[dev], "tso", "off", "gso", "off", "gro", "off", "tx", "off")

    def _routed(self):
        d = self.dev
        for where, dev, addr in (("laptop", "laptop", "198.18.1.2/24"), ("router", "router_l", "198.18.1.1/24"),
                                 ("router", "router_o", "198.18.2.1/24"), ("office", "office", "198.18.2.2/24")):
            self._in(where, "ip", "addr", "add", addr, "dev", d[dev])
            self._in(where, "ip", "link", "set", d[dev], "up")
            if shutil.which("ethtool"):
                self._offloads_off(where, dev)
        if not shutil.which("ethtool"):
            self.notes.append("ethtool missing: segmentation offloads left on")
        self._in("laptop", "ip", "route", "add", "default", "via", "198.18.1.1")
        self._in("office", "ip", "route", "add", "default", "via", "198.18.2.1")
        self._in("router", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        loss = ["loss", "%g%%" % self.loss_pct] if self.loss_pct else []
        for where in ("laptop", "office"):
            self._in(where, "tc", "qdisc", "add", "dev", d[where], "root", "netem", "delay", "%gms" % self.delay_ms,
                     "limit", "100000", *loss)
        for dev in ("router_l", "router_o"):
            self._in("router", "tc", "qdisc", "add", "dev", d[dev], "root", "handle", "1:", "htb", "default", "10")
            self._in("router", "tc", "class", "add", "dev", d[dev], "parent", "1:", "classid", "1:10", "htb", "rate",
                     "%dmbit" % self.rate_mbit, "ceil", "%dmbit" % self.rate_mbit)
            self._in("router", "tc", "qdisc", "add", "dev", d[dev], "parent", "1:10", "handle", "10:", "fq_codel")
        self._name_target("198.18.2.2")

    def _bridged(self, bench_load, log_dir):
        d = self.dev
        for where, dev, addr in (("laptop", "laptop", "198.18.0.1/24"), ("router", "router_l", None),
                                 ("router", "router_o", None), ("office", "office", "198.18.0.2/24")):
            if addr:
                self._in(where, "ip", "addr", "add", addr, "dev", d[dev])
            self._in(where, "ip", "link", "set", d[dev], "up", "promisc", "on")
            self._offloads_off(where, dev)
        self.linkem = Proc(["ip", "netns", "exec", self.ns["router"], bench_load, "linkem", "--if-a", d["router_l"],
                            "--if-b", d["router_o"], "--delay-ms", str(self.delay_ms), "--rate-mbit", str(self.rate_mbit),
                            "--loss", str(self.loss_pct)],
                           os.path.join(log_dir, "linkem.log"))
        self.linkem.wait_log(r"linkem ready")
        self.notes.append("shaped link by bench_load linkem (this kernel has no netem or fq_codel)")
        self._name_target("198.18.0.2")

    def _name_target(self, office_ip):
        with open(os.path.join(self.hosts_dir, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n%s %s\n" % (office_ip, TARGET_NAME))
        self.net = Net("shaped-%gms%s" % (2 * self.delay_ms, "-loss%g" % self.loss_pct if self.loss_pct else ""),
                       Place(self.ns["laptop"]), Place(self.ns["office"]), office_ip)
        self.net.rtt_ms = 2 * self.delay_ms

    def destroy(self):
        if self.linkem:
            self.linkem.stop()
            self.linkem = None
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.created = []
        if self.hosts_dir:
            shutil.rmtree(self.hosts_dir, ignore_errors=True)
            self.hosts_dir = None
