// New connections per source address (an IPv4 address or an IPv6 /64, RelayServer::rate_source): a
// bucket of kBurst that refills at kPerSecond, for the whole relay. The workers share it, so the rate
// holds however the kernel spreads one source's connections over their listeners (each worker had a
// bucket of its own before, which let a source through once per worker). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ferry::relay {

class SourceRateLimit {
 public:
  static constexpr double kPerSecond = 10;
  // Twenty agents behind one NAT address, two links each, all reconnecting after a relay restart.
  static constexpr double kBurst = 40;
  // Buckets kept at once; past it (a flood from many addresses) a new source evicts another.
  static constexpr std::size_t kMaxSources = 16'384;

  // Takes one token from `source`'s bucket at `now_ms` (uv_now of any worker's loop: they share the
  // monotonic clock, up to a loop iteration's lag). False: none is left, refuse the connection.
  bool take(const std::string& source, std::uint64_t now_ms);
  std::size_t sources() const;

 private:
  struct Bucket {
    double tokens = kBurst;
    std::uint64_t at_ms = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
  std::uint64_t last_sweep_ms_ = 0;
};

}  // namespace ferry::relay
