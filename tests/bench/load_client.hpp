// bench_load's client scenarios. Each one reaches the target directly or through a proxy (SOCKS5 by
// address, SOCKS5 by name, or HTTP CONNECT) and prints its results as JSON lines on stdout.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "tests/bench/load_net.hpp"

namespace ferry::bench {

struct Proxy {
  enum class Kind { None, Socks5, Socks5h, Http } kind = Kind::None;
  sockaddr_in addr{};
};

// "socks5://IP:PORT", "socks5h://IP:PORT", "http://IP:PORT", or "" for none.
std::optional<Proxy> parse_proxy(const std::string& url);

struct ClientOptions {
  Proxy proxy;
  sockaddr_in target{};
  std::string target_name;  // sent instead of the address by socks5h:// and HTTP CONNECT when set
  int timeout_ms = 30000;   // every connect, send and recv
  std::uint64_t seed = 1;
};

struct Dialed {
  Fd fd;
  std::string error;  // empty when fd is connected to the target
};

// Connects to the target, through the proxy when there is one, with TCP_NODELAY and the timeouts set.
Dialed dial(const ClientOptions& o);

// One transfer of `bytes` (download when `down`), every byte checked against the pattern.
int run_bulk(const ClientOptions& o, bool down, std::uint64_t bytes);
// `count` sequential connections, each getting a 100-byte reply: rate and time to first byte.
int run_connect(const ClientOptions& o, int count);
// Opens `count` connections, `parallel` at a time, stopping at the first failure or after
// `deadline_s`; then waits for a line on stdin before one exchange on each, and for another before
// closing them all, so the caller can measure memory at each stage.
int run_hold(const ClientOptions& o, int count, int parallel, double deadline_s);
// Scenario f (load_ttfb.cpp): `count` sequential connections, each a 100-byte request and a 100-byte
// answer; time to first byte from the start of connect. `cold`: port P, P+1, ... of the target, each
// once; else the target's port every time after one connection not counted. `absolute`: GET
// http://TARGET/ to an http:// proxy instead of CONNECT.
int run_ttfb(const ClientOptions& o, int count, bool cold, bool absolute);
// Downloads on `parallel` connections at once, every byte checked: MB/s in all over `seconds`, from
// `warmup_s` after the last connection opened.
int run_timed_download(const ClientOptions& o, int parallel, double seconds, double warmup_s);
// 64-byte round trips on one connection for `seconds`, one every `interval_ms`, optionally while a
// download runs on a second connection through the same proxy (measured after `warmup_s`).
int run_hol(const ClientOptions& o, double seconds, double interval_ms, bool bulk, double warmup_s);

}  // namespace ferry::bench
