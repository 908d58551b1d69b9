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
# Early replies (a warm target answered without waiting for the relay) save one round trip: the
# guard fails only when warm is not even half a round trip faster than cold.
GUARD_WARM_GAIN_OF_RTT = 0.5
TTFB_PATHS = (("socks", "SOCKS5"), ("connect", "HTTP CONNECT"), ("absolute", "absolute-form HTTP"))


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


def ttfb(res, rtt, path, temp, key="p50_ms"):
    r = _get(res, "f%d" % rtt, "%s_%s" % (path, temp))
    return r[key] if _ok(r) else None


def download(res, key, parallel):
    r = _get(res, key, "p%d" % parallel)
    return r["mb_per_s"] if _ok(r) else None


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


def _ttfb_cell(path, temp):
    def f(run):
        r = run.get("%s_%s" % (path, temp))
        if r is None:
            return "n/a"
        if not _ok(r):
            return "FAIL"
        return "%.1f / %.1f" % (r["p50_ms"], r["p99_ms"])
    return f


def _download_cell(parallel):
    def f(run):
        r = run["p%d" % parallel]
        return "%.2f" % r["mb_per_s"] if _ok(r) else "FAIL"
    return f


def ttfb_rows(size, rtts):
    rows = []
    for rtt in rtts:
        for path, name in TTFB_PATHS:
            for temp in ("cold", "warm"):
                rows.append(("f. %d ms RTT: %s, %s target, TTFB p50 / p99, ms (%d)" % (rtt, name, temp, size["ttfb"]),
                             "f%d" % rtt, _ttfb_cell(path, temp)))
    return rows


def measure_rows(size, rtts=(40, 100), loss=(1.0, 40)):
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
    ] + ttfb_rows(size, rtts) + [
        ("g. %g%% loss, %d ms RTT: 1 download, MB/s (%.0f s)" % (loss[0], loss[1], size["loss_s"]), "g_loss",
         _download_cell(1)),
        ("g. %g%% loss, %d ms RTT: 4 downloads, MB/s in all" % loss, "g_loss", _download_cell(4)),
        ("g. no loss, %d ms RTT: 1 download, MB/s" % loss[1], "g_clean", _download_cell(1)),
        ("g. no loss, %d ms RTT: 4 downloads, MB/s in all" % loss[1], "g_clean", _download_cell(4)),
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
    ("40 ms RTT: SOCKS5 TTFB p50, cold (lower is better)", lambda r: ttfb(r, 40, "socks", "cold")),
    ("40 ms RTT: SOCKS5 TTFB p50, warm (lower is better)", lambda r: ttfb(r, 40, "socks", "warm")),
    ("100 ms RTT: SOCKS5 TTFB p50, cold (lower is better)", lambda r: ttfb(r, 100, "socks", "cold")),
    ("100 ms RTT: SOCKS5 TTFB p50, warm (lower is better)", lambda r: ttfb(r, 100, "socks", "warm")),
    ("1% loss: 1 download MB/s (higher is better)", lambda r: download(r, "g_loss", 1)),
    ("1% loss: 4 downloads MB/s (higher is better)", lambda r: download(r, "g_loss", 4)),
]


def _ratio(a, b):
    return a / b if a is not None and b else None


def early_replies(ferry):
    """Whether ferry answered warm targets early in scenario f (p50 under 1.5 RTT at 40 ms), or None
    when f did not run."""
    v = ttfb(ferry, 40, "socks", "warm")
    return None if v is None else v <= 1.5 * 40


def targets(bench):
    """Issue 21's targets that this run measured: (scenario, target, measured, PASS or MISS). A target
    whose scenario did not run for ferry is left out; one whose peer is missing reads n/a."""
    R = bench.results
    ferry = R.get("ferry", {})
    peer = lambda name: R.get(name, {})  # noqa: E731
    rates = {l["name"]: l["mb_per_s"] for l in getattr(bench, "aead", [])}
    own = rates.get(bench.machine.get("ferry_aead"))
    floor = 2 * GIB / (own * 1e6) if own else None  # two AEAD passes per byte: seal at one end, open at the other
    rtt = hol(peer("direct"), "d_shaped", "idle", "p50_ms")
    out = []

    def add(scenario, what, value, op, limit, shown=None, rows=()):
        """`rows`: the measurements of `scenario` the value comes from; one that failed is a MISS."""
        if scenario not in ferry:
            return  # not run
        run = ferry[scenario] or {}
        if value is None and ("error" in run or any(isinstance(run.get(r), dict) and not _ok(run[r]) for r in rows)):
            out.append((scenario[0], what, "FAIL", "MISS"))
            return
        if value is None or limit is None:
            out.append((scenario[0], what, "n/a", "n/a"))
            return
        good = value >= limit if op == ">=" else value <= limit
        out.append((scenario[0], what, shown or "%.2f" % value, "PASS" if good else "MISS"))

    for d in ("down", "up"):
        add("a", "%s MB/s ≥ 1.5× ss-chacha" % d, _ratio(bulk_mbps(ferry, d), bulk_mbps(peer("ss-chacha"), d)), ">=", 1.5)
    for d in ("down", "up"):
        add("a", "%s MB/s ≥ 1.1× ssh-aes128" % d, _ratio(bulk_mbps(ferry, d), bulk_mbps(peer("ssh-aes128"), d)), ">=", 1.1)
    for d in ("down", "up"):
        add("a", "%s CPU s/GiB agent + relay ≤ 0.85× ssh-aes128" % d,
            _ratio(bulk_cpu(ferry, d), bulk_cpu(peer("ssh-aes128"), d)), "<=", 0.85)
    for d in ("down", "up"):
        fwd = bulk_cpu(peer("plain-fwd"), d)
        limit = 1.15 * (fwd + floor) if fwd is not None and floor else None
        v = bulk_cpu(ferry, d)
        add("a", "%s CPU s/GiB ≤ 1.15× (plain-fwd %s + AEAD floor %s, 2 passes of %s) = %s"
            % (d, "%.2f" % fwd if fwd is not None else "?", "%.2f" % floor if floor else "?",
               bench.machine.get("ferry_aead"), "%.2f" % limit if limit else "?"), v, "<=", limit,
            v is not None and "%.2f s/GiB (%.2f×)" % (v, v / (limit / 1.15)) if limit else None)
    for kind, name in (("socks", "SOCKS5"), ("http", "HTTP CONNECT")):
        v = conn(ferry, kind, "ttfb_p99_ms")
        add("b", "loopback: %s TTFB p99 ≤ 1.5 ms" % name, v, "<=", 1.5, v is not None and "%.3f ms" % v)
    early = early_replies(ferry)
    want = 1.0 if early else 0.8
    add("b", "SOCKS5 connections/s ≥ %.1f× ss-chacha (%s)" % (
        want, {True: "warm targets answered early in f: 1.0×", False: "no early replies in f: 0.8×",
               None: "f not run: 0.8×; 1.0× once warm targets are answered early"}[early]),
        _ratio(conn(ferry, "socks", "per_s"), conn(peer("ss-chacha"), "socks", "per_s")), ">=", want)
    c = ferry.get("c") or {}
    all_held = _get(c, "exchange", "ok")
    add("c", "all %d held connections exchange" % bench.size["hold"], all_held, ">=", bench.size["hold"],
        all_held is not None and "%d of %d" % (all_held, bench.size["hold"]))
    v = held_kib_per_conn(ferry)
    add("c", "≤ 12 KiB per held connection, agent + relay, after one exchange each", v, "<=", 12,
        v is not None and "%.1f KiB" % v)
    add("c", "RSS after close ≤ 1.5× idle", rss_after_x_idle(ferry), "<=", 1.5)
    v = hol(ferry, "d", "loaded", "p99_ms")
    others = [(n, hol(peer(n), "d", "loaded", "p99_ms")) for n in R if n not in ("ferry", "direct")]
    others = [(n, p) for n, p in others if p is not None]
    if others:
        best = min(others, key=lambda np: np[1])
        add("d", "loopback: p99 during bulk below every peer's (best: %s %.3f ms)" % best, v, "<=", best[1] * 0.99999,
            v is not None and "%.3f ms" % v)
    else:
        add("d", "loopback: p99 during bulk below every peer's", v, "<=", None)
    v = hol(ferry, "d_shaped", "loaded", "p99_ms")
    add("d_shaped", "shaped: p99 during bulk ≤ RTT + 25 ms (RTT %s)" % ("%.1f ms" % rtt if rtt else "?"), v, "<=",
        rtt + 25 if rtt else None, v is not None and "%.1f ms" % v)
    for r in (40, 100):
        key = "f%d" % r
        for path, name in TTFB_PATHS[:2]:
            v = ttfb(ferry, r, path, "warm")
            add(key, "%d ms RTT: %s warm TTFB p50 ≤ 1 RTT + 5 ms (%d ms)" % (r, name, r + 5), v, "<=", r + 5,
                v is not None and "%.1f ms" % v, rows=[path + "_warm"])
        for temp in ("cold", "warm"):
            v = ttfb(ferry, r, "absolute", temp)
            add(key, "%d ms RTT: absolute-form HTTP %s TTFB p50 ≤ 1 RTT + 5 ms (%d ms)" % (r, temp, r + 5), v, "<=",
                r + 5, v is not None and "%.1f ms" % v, rows=["absolute_" + temp])
        for path, name in TTFB_PATHS[:2]:
            v = ttfb(ferry, r, path, "cold")
            add(key, "%d ms RTT: %s cold TTFB p50 ≤ 2 RTT + 5 ms (%d ms)" % (r, name, 2 * r + 5), v, "<=", 2 * r + 5,
                v is not None and "%.1f ms" % v, rows=[path + "_cold"])
        spreads = [(ttfb(ferry, r, p, t, "p99_ms") - ttfb(ferry, r, p, t), "%s %s" % (p, t))
                   for p, _ in TTFB_PATHS for t in ("cold", "warm") if ttfb(ferry, r, p, t) is not None]
        worst = max(spreads) if spreads else None
        add(key, "%d ms RTT: TTFB p99 within 10 ms of p50, every path (worst: %s)" % (r, worst[1] if worst else "?"),
            worst and worst[0], "<=", 10, worst and "+%.1f ms" % worst[0])
    for parallel, want in ((1, 0.9), (4, 0.8)):
        add("g_loss", "1%% loss, 40 ms RTT: %d download%s MB/s ≥ %.1f× ss-chacha" % (parallel, "s" if parallel > 1 else "", want),
            _ratio(download(ferry, "g_loss", parallel), download(peer("ss-chacha"), "g_loss", parallel)), ">=", want,
            rows=["p%d" % parallel])
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
    fails += guard_ttfb(ferry.get("f_guard"))
    return fails


def guard_ttfb(run):
    """The cold-vs-warm check: warm targets must be answered at least half a round trip sooner than
    cold ones (early replies save a whole one). No run (no namespaces here): no verdict."""
    if run is None:
        return []
    if "error" in run:
        return ["TTFB cold vs warm: %s" % run["error"]]
    cold, warm = run.get("socks_cold"), run.get("socks_warm")
    for name, r in (("cold", cold), ("warm", warm)):
        if not _ok(r):
            return ["TTFB %s: %s" % (name, (r or {}).get("error"))]
    gain = GUARD_WARM_GAIN_OF_RTT * run["rtt_ms"]
    if warm["p50_ms"] >= cold["p50_ms"] - gain:
        return ["TTFB: warm p50 %.1f ms is not below cold p50 %.1f ms minus half the %.0f ms RTT: warm targets are "
                "no longer answered early" % (warm["p50_ms"], cold["p50_ms"], run["rtt_ms"])]
    return []


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
    rtts = sorted(int(k[1:]) for k in scenarios_run if k.startswith("f") and k[1:].isdigit())
    rows = [[label] + [_cell(bench.results[n], s, fn) for n in names]
            for label, s, fn in measure_rows(bench.size, rtts) if s in scenarios_run]
    if rows:
        print(markdown(["measure"] + [labels.get(n, n) for n in names], rows))
        print()
    if getattr(bench, "aead", None):
        print(markdown(["e. single-core AEAD, 65,519-byte records", "MB/s"],
                       [[l["name"], "%.0f" % l["mb_per_s"]] for l in bench.aead]))
        print("\nferry's link uses %s (the floor for scenario a).\n" % m.get("ferry_aead"))
    errors = [(n, s, r["error"]) for n in names for s, r in bench.results[n].items() if isinstance(r, dict) and "error" in r]
    # A measurement that failed inside a scenario that ran (one TTFB row, one direction of bulk).
    errors += [(n, "%s %s" % (s, k), v["error"]) for n in names for s, r in bench.results[n].items()
               if isinstance(r, dict) and "error" not in r
               for k, v in r.items() if isinstance(v, dict) and v.get("error")]
    for n, s, e in errors:
        print("- ERR %s, scenario %s: %s" % (n, s, e))
    if errors:
        print()

    peers = [n for n in names if n != "ferry"]
    if "ferry" in bench.results:
        ratio_rows = []
        for label, metric in RATIO_ROWS:
            f = metric(bench.results["ferry"])
            cells = [_ratio(f, metric(bench.results[p])) for p in peers]
            if any(v is not None for v in cells):
                ratio_rows.append([label] + ["%.2f" % v if v is not None else "—" for v in cells])
        if ratio_rows and peers:
            print("Ratios ferry ÷ peer:\n")
            print(markdown(["measure"] + ["÷ " + p for p in peers], ratio_rows))
            print()
        print("Targets (issue 21), ferry in this run:\n")
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
        f = _get(bench.results, "ferry", "f_guard")
        checked = ("warm TTFB p50 %.1f ms < cold %.1f ms − RTT/2" % (f["socks_warm"]["p50_ms"], f["socks_cold"]["p50_ms"])
                   if f and "error" not in f else "TTFB cold vs warm not checked: no shaped link here")
        print("GUARD: ok (ferry within 1/%.0f of direct, every exchange intact, ≤ %d KiB per held connection, "
              "RSS after close ≤ %.0f× idle, %s)" % (1 / GUARD_MIN_FRACTION_OF_DIRECT, GUARD_MAX_KIB_PER_CONN,
                                                    GUARD_MAX_RSS_AFTER_X_IDLE, checked))
    return not fails
