"""peer_bench.py's report: one table of measures by contender, the ratios ferry/peer, the issue's
targets with PASS or MISS, and (with --guard) the regression guard's verdict. Tables are Markdown so
the output can go into docs/performance.md as it is."""
import time

GIB = 1 << 30
MIB = 1 << 20

# Gross regressions only: the guard must not fail on a noisy, shared machine. On this 2-core machine
# ferry's quick bulk runs measured 8-12x below the direct connection while others were building (a
# plain copy through loopback is very fast), so the example of 20x would leave less than a
# factor of 2 of headroom; 40x catches what is gross (a stall per write, a quadratic copy) and no noise.
GUARD_MIN_FRACTION_OF_DIRECT = 1 / 40
GUARD_MAX_KIB_PER_CONN = 64
GUARD_MAX_RSS_AFTER_X_IDLE = 3.0


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _ok(line):
    return isinstance(line, dict) and line.get("ok") is True


# ---- metrics: numbers from one contender's results (None when not measured) ----

def bulk_mbps(res, d):
    r = _get(res, "a", d)
    return r["mb_per_s"] if _ok(r) else None


def bulk_cpu(res, d):
    r = _get(res, "a", d)
    return r["cpu_laptop"] + r["cpu_office"] if _ok(r) else None


def conn(res, kind, key):
    r = _get(res, "b", kind)
    return r[key] if isinstance(r, dict) and r.get("ok") else None


def held_kib_per_conn(res, stage="used"):
    """RSS growth of both sides per held connection, after one exchange on each ("used", the figure
    the target is about) or straight after opening ("held")."""
    c = res.get("c") or {}
    opened = _get(c, "open", "ok")
    if not opened or not c.get(stage) or not sum(c["idle"]):
        return None
    return (sum(c[stage]) - sum(c["idle"])) / opened


def rss_after_x_idle(res):
    c = res.get("c") or {}
    if not c.get("after") or not sum(c.get("idle", [0])):
        return None
    return sum(c["after"]) / sum(c["idle"])


def hol(res, where, load, key):
    r = _get(res, where, load)
    return r[key] if _ok(r) else None


# ---- cells ----

def _cell(res, scenario, fn):
    if "error" in (res.get(scenario) or {}):
        return "ERR"
    if scenario not in res:
        return "—"
    try:
        return fn(res[scenario])
    except (KeyError, TypeError, ZeroDivisionError):
        return "—"


def _bulk_cell(d):
    def f(a):
        r = a[d]
        return "%.0f" % r["mb_per_s"] if _ok(r) else "FAIL"
    return f


def _bulk_cpu_cell(d):
    def f(a):
        r = a[d]
        if not _ok(r):
            return "FAIL"
        return "%.2f + %.2f" % (r["cpu_laptop"], r["cpu_office"]) if r["cpu_laptop"] + r["cpu_office"] > 0 else "n/a"
    return f


def _conn_cell(kind, what):
    def f(b):
        r = b.get(kind)
        if r is None:
            return "n/a"
        if not r.get("ok"):
            return "FAIL"
        failed = " (%d failed)" % r["failed"] if r.get("failed") else ""
        if what == "rate":
            return "%.0f%s" % (r["per_s"], failed)
        if what == "ttfb":
            return "%.3f / %.3f" % (r["ttfb_p50_ms"], r["ttfb_p99_ms"])
        total = r["cpu_laptop_us"] + r["cpu_office_us"]
        return "%.0f + %.0f" % (r["cpu_laptop_us"], r["cpu_office_us"]) if total > 0 else "n/a"
    return f


def _mib_pair(key):
    def f(c):
        l, o = c[key]
        return "%.1f + %.1f" % (l / 1024, o / 1024) if l + o else "n/a"
    return f


def _held_cell(c):
    return "%d / %d" % (_get(c, "open", "ok") or 0, _get(c, "exchange", "ok") or 0)


def _kib_cell(stage):
    def f(c):
        opened = _get(c, "open", "ok")
        if not opened or not sum(c["idle"]):
            return "n/a"
        l = (c[stage][0] - c["idle"][0]) / opened
        o = (c[stage][1] - c["idle"][1]) / opened
        return "%.1f (%.1f + %.1f)" % (l + o, l, o)
    return f


def _after_cell(c):
    if not sum(c["idle"]):
        return "n/a"
    return "%.2f" % (sum(c["after"]) / sum(c["idle"]))


def _hol_cell(load, what):
    def f(d):
        r = d[load]
        if not _ok(r):
            return "FAIL"
        if what == "bulk":
            return "%.1f" % r["bulk_mb_per_s"]
        return "%.3f / %.3f" % (r["p50_ms"], r["p99_ms"])
    return f


def measure_rows(size):
    bulk = "1 GiB" if size["bulk"] == GIB else "%d MiB" % (size["bulk"] // MIB)
    return [
        ("a. download %s, MB/s" % bulk, "a", _bulk_cell("down")),
        ("a. upload %s, MB/s" % bulk, "a", _bulk_cell("up")),
        ("a. download CPU s/GiB, laptop + office side", "a", _bulk_cpu_cell("down")),
        ("a. upload CPU s/GiB, laptop + office side", "a", _bulk_cpu_cell("up")),
        ("b. SOCKS5 connections/s (%d sequential)" % size["connect"], "b", _conn_cell("socks", "rate")),
        ("b. SOCKS5 TTFB p50 / p99, ms", "b", _conn_cell("socks", "ttfb")),
        ("b. SOCKS5 CPU µs/connection, laptop + office", "b", _conn_cell("socks", "cpu")),
        ("b. HTTP CONNECT connections/s", "b", _conn_cell("http", "rate")),
        ("b. HTTP CONNECT TTFB p50 / p99, ms", "b", _conn_cell("http", "ttfb")),
        ("b. HTTP CONNECT CPU µs/connection, laptop + office", "b", _conn_cell("http", "cpu")),
        ("c. held / exchanged of %d" % size["hold"], "c", _held_cell),
        ("c. RSS idle, MiB, laptop + office", "c", _mib_pair("idle")),
        ("c. RSS held, after one exchange each, MiB, laptop + office", "c", _mib_pair("used")),
        ("c. KiB per held connection, after the exchange (laptop + office)", "c", _kib_cell("used")),
        ("c. KiB per held connection, before any exchange", "c", _kib_cell("held")),
        ("c. RSS after close ÷ idle", "c", _after_cell),
        ("d. loopback: idle round trip p50 / p99, ms", "d", _hol_cell("idle", "rtt")),
        ("d. loopback: during bulk p50 / p99, ms", "d", _hol_cell("loaded", "rtt")),
        ("d. loopback: bulk MB/s meanwhile", "d", _hol_cell("loaded", "bulk")),
        ("d. shaped: idle round trip p50 / p99, ms", "d_shaped", _hol_cell("idle", "rtt")),
        ("d. shaped: during bulk p50 / p99, ms", "d_shaped", _hol_cell("loaded", "rtt")),
        ("d. shaped: bulk MB/s meanwhile", "d_shaped", _hol_cell("loaded", "bulk")),
    ]


def markdown(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


# ---- ratios and targets ----

RATIO_ROWS = [
    ("download MB/s (higher is better)", lambda r: bulk_mbps(r, "down")),
    ("upload MB/s (higher is better)", lambda r: bulk_mbps(r, "up")),
    ("download CPU s/GiB, both sides (lower is better)", lambda r: bulk_cpu(r, "down")),
    ("upload CPU s/GiB, both sides (lower is better)", lambda r: bulk_cpu(r, "up")),
    ("SOCKS5 connections/s (higher is better)", lambda r: conn(r, "socks", "per_s")),
    ("SOCKS5 TTFB p99 (lower is better)", lambda r: conn(r, "socks", "ttfb_p99_ms")),
    ("KiB per held connection (lower is better)", held_kib_per_conn),
    ("loopback round trip during bulk, p99 (lower is better)", lambda r: hol(r, "d", "loaded", "p99_ms")),
    ("shaped round trip during bulk, p99 (lower is better)", lambda r: hol(r, "d_shaped", "loaded", "p99_ms")),
]


def _ratio(a, b):
    return a / b if a is not None and b else None


def targets(bench):
    R = bench.results
    ferry = R.get("ferry", {})
    peer = lambda name: R.get(name, {})  # noqa: E731
    size = bench.size
    rates = {l["name"]: l["mb_per_s"] for l in getattr(bench, "aead", [])}
    own = rates.get(bench.machine.get("ferry_aead"))
    floor = 2 * GIB / (own * 1e6) if own else None  # two AEAD passes per byte: seal at one end, open at the other
    rtt = hol(peer("direct"), "d_shaped", "idle", "p50_ms")
    out = []

    def add(scenario, what, value, op, limit, shown=None):
        if value is None or limit is None:
            out.append((scenario, what, "n/a", "n/a"))
            return
        good = value >= limit if op == ">=" else value <= limit
        out.append((scenario, what, shown or "%.2f" % value, "PASS" if good else "MISS"))

    for d in ("down", "up"):
        add("a", "%s MB/s ≥ 1.5× ss-chacha" % d, _ratio(bulk_mbps(ferry, d), bulk_mbps(peer("ss-chacha"), d)), ">=", 1.5)
    for d in ("down", "up"):
        add("a", "%s MB/s ≥ 1.1× ssh-aes128" % d, _ratio(bulk_mbps(ferry, d), bulk_mbps(peer("ssh-aes128"), d)), ">=", 1.1)
    for d in ("down", "up"):
        add("a", "%s CPU s/GiB agent + relay ≤ 0.85× ssh-aes128" % d,
            _ratio(bulk_cpu(ferry, d), bulk_cpu(peer("ssh-aes128"), d)), "<=", 0.85)
    for d in ("down", "up"):
        v = bulk_cpu(ferry, d)
        add("a", "%s CPU s/GiB ≤ 1.25× AEAD floor (%s s/GiB, 2 passes of %s)"
            % (d, "%.2f" % floor if floor else "?", bench.machine.get("ferry_aead")), _ratio(v, floor), "<=", 1.25)
    add("b", "SOCKS5 connections/s ≥ 1.0× ss-chacha",
        _ratio(conn(ferry, "socks", "per_s"), conn(peer("ss-chacha"), "socks", "per_s")), ">=", 1.0)
    add("b", "SOCKS5 connections/s ≥ 1.6× ssh", _ratio(conn(ferry, "socks", "per_s"), conn(peer("ssh"), "socks", "per_s")),
        ">=", 1.6)
    for kind, name in (("socks", "SOCKS5"), ("http", "HTTP CONNECT")):
        v = conn(ferry, kind, "ttfb_p99_ms")
        add("b", "%s TTFB p99 ≤ 1.5 ms" % name, v, "<=", 1.5, v is not None and "%.3f ms" % v)
    c = ferry.get("c") or {}
    all_held = _get(c, "exchange", "ok")
    add("c", "all %d held connections exchange" % size["hold"], all_held, ">=", size["hold"],
        all_held is not None and "%d of %d" % (all_held, size["hold"]))
    v = held_kib_per_conn(ferry)
    add("c", "≤ 12 KiB per held connection, agent + relay, after one exchange each", v, "<=", 12,
        v is not None and "%.1f KiB" % v)
    v = held_kib_per_conn(ferry, "held")
    add("c", "≤ 12 KiB per held connection, agent + relay, before any exchange", v, "<=", 12,
        v is not None and "%.1f KiB" % v)
    add("c", "RSS after close ≤ 1.5× idle", rss_after_x_idle(ferry), "<=", 1.5)
    v = hol(ferry, "d_shaped", "loaded", "p99_ms")
    add("d", "shaped: p99 during bulk ≤ RTT + 25 ms (RTT %s)" % ("%.1f ms" % rtt if rtt else "?"), v, "<=",
        rtt + 25 if rtt else None, v is not None and "%.1f ms" % v)
    idle, loaded = hol(ferry, "d", "idle", "p50_ms"), hol(ferry, "d", "loaded", "p50_ms")
    add("d", "loopback: p50 during bulk ≤ 1.2× idle p50", _ratio(loaded, idle), "<=", 1.2)
    return out


def guard(bench):
    """Gross regressions of ferry against direct in the same run. Returns the failures."""
    R = bench.results
    ferry, direct = R.get("ferry"), R.get("direct")
    if not ferry or not direct:
        return ["the guard needs both direct and ferry"]
    fails = []
    for scenario in ("a", "b", "c", "d"):
        if "error" in (ferry.get(scenario) or {}):
            fails.append("%s: %s" % (scenario, ferry[scenario]["error"]))
    for d in ("down", "up"):
        r = _get(ferry, "a", d)
        if r is not None and not _ok(r):
            fails.append("bulk %s: %s" % (d, r.get("error")))
        f, g = bulk_mbps(ferry, d), bulk_mbps(direct, d)
        if f is not None and g and f < g * GUARD_MIN_FRACTION_OF_DIRECT:
            fails.append("bulk %s: ferry %.0f MB/s is less than 1/%.0f of direct's %.0f"
                         % (d, f, 1 / GUARD_MIN_FRACTION_OF_DIRECT, g))
    for kind in ("socks", "http"):
        r = _get(ferry, "b", kind)
        if isinstance(r, dict) and (r.get("failed") or r.get("ok") in (None, False)):
            fails.append("connect %s: %s failed: %s" % (kind, r.get("failed"), r.get("error")))
        f, g = conn(ferry, kind, "per_s"), conn(direct, kind, "per_s")
        if f is not None and g and f < g * GUARD_MIN_FRACTION_OF_DIRECT:
            fails.append("connect %s: ferry %.0f/s is less than 1/%.0f of direct's %.0f/s"
                         % (kind, f, 1 / GUARD_MIN_FRACTION_OF_DIRECT, g))
    c = ferry.get("c")
    if c and "error" not in c:
        n = c["count"]
        if _get(c, "open", "ok") != n or _get(c, "exchange", "ok") != n:
            fails.append("hold: %s of %d opened, %s exchanged: %s" % (_get(c, "open", "ok"), n, _get(c, "exchange", "ok"),
                                                                     _get(c, "exchange", "error") or _get(c, "open", "error")))
        v = held_kib_per_conn(ferry)
        if v is not None and v > GUARD_MAX_KIB_PER_CONN:
            fails.append("hold: %.1f KiB per connection (limit %d)" % (v, GUARD_MAX_KIB_PER_CONN))
        v = rss_after_x_idle(ferry)
        if v is not None and v > GUARD_MAX_RSS_AFTER_X_IDLE:
            fails.append("hold: RSS after close is %.2f× idle (limit %.0f×)" % (v, GUARD_MAX_RSS_AFTER_X_IDLE))
    for where in ("d", "d_shaped"):
        for load in ("idle", "loaded"):
            r = _get(ferry, where, load)
            if r is not None and not _ok(r):
                fails.append("%s %s: %s" % (where, load, r.get("error")))
    return fails


def report(bench, command):
    """Prints everything; returns False when --guard found a gross regression."""
    names = [n for n in bench.order if n in bench.results] if hasattr(bench, "order") else list(bench.results)
    labels = getattr(bench, "labels", {})
    m = bench.machine
    print("## Side by side (%s)\n" % time.strftime("%Y-%m-%d %H:%M"))
    print("- machine: %s, %s cores, %s, Linux %s (TCP congestion control %s), Debian %s"
          % (m.get("cpu"), m.get("cores"), m.get("memory"), m.get("kernel"), m.get("tcp_cc"), m.get("debian")))
    print("- versions: %s; %s; %s; libsodium %s; %s; libuv %s" % (m.get("ferry"), m.get("shadowsocks"), m.get("openssh"),
                                                                 m.get("libsodium"), m.get("openssl"), m.get("libuv")))
    print("- command: `%s` (run time %.0f s; load average %s at the start, %s at the end)"
          % (command, bench.elapsed, m.get("load_start"), m.get("load_end")))
    for n in bench.notes:
        print("- note: " + n)
    print()
    scenarios_run = {s for r in bench.results.values() for s in r}
    rows = [[label] + [_cell(bench.results[n], s, fn) for n in names]
            for label, s, fn in measure_rows(bench.size) if s in scenarios_run]
    if rows:
        print(markdown(["measure"] + [labels.get(n, n) for n in names], rows))
        print()
    if getattr(bench, "aead", None):
        print(markdown(["e. single-core AEAD, 65,519-byte records", "MB/s"],
                       [[l["name"], "%.0f" % l["mb_per_s"]] for l in bench.aead]))
        print("\nferry's link uses %s (the floor for scenario a).\n" % m.get("ferry_aead"))
    errors = [(n, s, r["error"]) for n in names for s, r in bench.results[n].items() if isinstance(r, dict) and "error" in r]
    for n, s, e in errors:
        print("- ERR %s, scenario %s: %s" % (n, s, e))
    if errors:
        print()

    peers = [n for n in names if n != "ferry"]
    if "ferry" in bench.results and peers:
        ratio_rows = []
        for label, metric in RATIO_ROWS:
            f = metric(bench.results["ferry"])
            cells = [_ratio(f, metric(bench.results[p])) for p in peers]
            if any(v is not None for v in cells):
                ratio_rows.append([label] + ["%.2f" % v if v is not None else "—" for v in cells])
        if ratio_rows:
            print("Ratios ferry ÷ peer:\n")
            print(markdown(["measure"] + ["÷ " + p for p in peers], ratio_rows))
            print()
        print("Targets (issue 6), ferry in this run:\n")
        print(markdown(["", "target", "measured", "result"], [list(t) for t in targets(bench)]))
        print()

    if not bench.args.guard:
        return True
    fails = guard(bench)
    if fails:
        print("GUARD: FAIL")
        for f in fails:
            print("- " + f)
    else:
        print("GUARD: ok (ferry within 1/%.0f of direct, every exchange intact, ≤ %d KiB per held connection, "
              "RSS after close ≤ %.0f× idle)" % (1 / GUARD_MIN_FRACTION_OF_DIRECT, GUARD_MAX_KIB_PER_CONN,
                                                 GUARD_MAX_RSS_AFTER_X_IDLE))
    return not fails
