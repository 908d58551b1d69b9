// bench_load: the native data path of the side-by-side benchmark (tests/bench/peer_bench.py drives
// it). One program, one subcommand per role, results as JSON lines on stdout.
//
//   bench_load serve   --listen IP:PORT [--threads N] [--ports N]
//   bench_load bulk    --target IP:PORT [--proxy URL] (--down SIZE | --up SIZE | --seconds S [--parallel N]
//   [--warmup-s S]) bench_load connect --target IP:PORT [--proxy URL] --count N bench_load hold    --target
//   IP:PORT [--proxy URL] --count N [--parallel N] [--deadline-s S]
//                                                        (stages advance on stdin lines)
//   bench_load hol     --target IP:PORT [--proxy URL] --seconds S [--interval-ms MS] [--bulk] [--warmup-s S]
//   bench_load ttfb    --target IP:PORT [--proxy URL] --count N [--cold] [--absolute]
//   bench_load aead    [--seconds S]
//   bench_load linkem  --if-a IF --if-b IF [--delay-ms MS] [--rate-mbit R] [--loss PCT]
//                                                        (root; see load_linkem.cpp)
//   bench_load forward --listen IP:PORT [--office IP:PORT]   (the plain forwarder pair; load_forward.cpp)
//
// URL is socks5://IP:PORT, socks5h://IP:PORT (the name of --target-name, or the address, is sent as a
// name) or http://IP:PORT (HTTP CONNECT). SIZE takes K, M and G suffixes (binary). Client options:
// --target-name NAME, --timeout-ms MS (default 30000), --seed N.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "tests/bench/load_aead.hpp"
#include "tests/bench/load_client.hpp"
#include "tests/bench/load_common.hpp"
#include "tests/bench/load_forward.hpp"
#include "tests/bench/load_linkem.hpp"
#include "tests/bench/load_server.hpp"

using namespace ferry::bench;

namespace ferry::bench {

void raise_nofile_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (geteuid() == 0 && lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 1048576) {
    rlimit root = {1048576, 1048576};
    if (setrlimit(RLIMIT_NOFILE, &root) == 0) return;
  }
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace ferry::bench

namespace {

constexpr const char* kUsage =
    "usage: bench_load serve --listen IP:PORT [--threads N] [--ports N]\n"
    "       bench_load bulk --target IP:PORT [--proxy URL] (--down SIZE | --up SIZE | --seconds S "
    "[--parallel N] [--warmup-s S])\n"
    "       bench_load connect --target IP:PORT [--proxy URL] --count N\n"
    "       bench_load hold --target IP:PORT [--proxy URL] --count N [--parallel N] [--deadline-s S]\n"
    "       bench_load hol --target IP:PORT [--proxy URL] --seconds S [--interval-ms MS] [--bulk] "
    "[--warmup-s S]\n"
    "       bench_load ttfb --target IP:PORT [--proxy URL] --count N [--cold] [--absolute]\n"
    "       bench_load aead [--seconds S]\n"
    "       bench_load linkem --if-a IF --if-b IF [--delay-ms MS] [--rate-mbit R] [--loss PCT] [--seed N]\n"
    "       bench_load forward --listen IP:PORT [--office IP:PORT]\n"
    "URL: socks5://IP:PORT, socks5h://IP:PORT or http://IP:PORT. Client options: --target-name NAME,\n"
    "--timeout-ms MS, --seed N. SIZE: bytes, or with a K, M or G suffix.\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "bench_load: %s\n%s", why.c_str(), kUsage);
  return 2;
}

// "64M" -> 64 MiB. Returns 0 for anything unparsable.
std::uint64_t parse_size(const std::string& s) {
  char* end = nullptr;
  std::uint64_t v = std::strtoull(s.c_str(), &end, 10);
  const std::string unit = end;
  if (unit == "K" || unit == "k")
    v <<= 10;
  else if (unit == "M" || unit == "m")
    v <<= 20;
  else if (unit == "G" || unit == "g")
    v <<= 30;
  else if (!unit.empty())
    return 0;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) return usage("a subcommand is required");
  const std::string command = argv[1];
  std::map<std::string, std::string> opt;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) return usage("unexpected argument " + a);
    if (a == "--bulk" || a == "--cold" || a == "--absolute") {
      opt[a] = "1";
    } else if (i + 1 < argc) {
      opt[a] = argv[++i];
    } else {
      return usage(a + " needs a value");
    }
  }
  auto get = [&](const char* k, const char* fallback) {
    return opt.count(k) ? opt[k] : std::string(fallback);
  };
  raise_nofile_limit();

  if (command == "serve") {
    const auto threads = std::stoi(
        get("--threads", std::to_string(std::max(1u, std::thread::hardware_concurrency())).c_str()));
    return run_server(get("--listen", "127.0.0.1:0"), threads, std::stoi(get("--ports", "1")));
  }
  if (command == "aead") return run_aead(std::stod(get("--seconds", "1.5")));
  if (command == "linkem")
    return run_linkem(get("--if-a", ""), get("--if-b", ""), std::stod(get("--delay-ms", "20")),
                      std::stod(get("--rate-mbit", "100")), std::stod(get("--loss", "0")),
                      std::stoull(get("--seed", "1")));
  if (command == "forward") return run_forward(get("--listen", "127.0.0.1:0"), get("--office", ""));

  ClientOptions o;
  const auto target = parse_endpoint(get("--target", ""));
  if (!target) return usage("--target IP:PORT is required");
  o.target = *target;
  const auto proxy = parse_proxy(get("--proxy", ""));
  if (!proxy) return usage("--proxy: socks5://IP:PORT, socks5h://IP:PORT or http://IP:PORT");
  o.proxy = *proxy;
  o.target_name = get("--target-name", "");
  o.timeout_ms = std::stoi(get("--timeout-ms", "30000"));
  o.seed =
      std::stoull(get("--seed", std::to_string(static_cast<unsigned long long>(getpid()) * 7919u).c_str()));

  if (command == "bulk" && opt.count("--seconds")) {
    if (opt.count("--down") || opt.count("--up")) return usage("bulk takes --seconds or a size, not both");
    return run_timed_download(o, std::stoi(get("--parallel", "1")), std::stod(get("--seconds", "")),
                              std::stod(get("--warmup-s", "1")));
  }
  if (command == "bulk") {
    const bool down = opt.count("--down") > 0;
    const std::uint64_t bytes = parse_size(down ? get("--down", "") : get("--up", ""));
    if (bytes == 0 || (down && opt.count("--up"))) return usage("bulk wants one of --down SIZE or --up SIZE");
    return run_bulk(o, down, bytes);
  }
  if (command == "connect") return run_connect(o, std::stoi(get("--count", "2000")));
  if (command == "ttfb")
    return run_ttfb(o, std::stoi(get("--count", "200")), opt.count("--cold") > 0,
                    opt.count("--absolute") > 0);
  if (command == "hold")
    return run_hold(o, std::stoi(get("--count", "10000")), std::stoi(get("--parallel", "16")),
                    std::stod(get("--deadline-s", "300")));
  if (command == "hol")
    return run_hol(o, std::stod(get("--seconds", "10")), std::stod(get("--interval-ms", "5")),
                   opt.count("--bulk") > 0, std::stod(get("--warmup-s", "1")));
  return usage("unknown subcommand " + command);
}
