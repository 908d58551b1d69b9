// The relay's counters, shared by every worker thread (atomics), rendered in the Prometheus text
// exposition format for GET /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/codec/link_frame.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/result.hpp"

namespace ferry::relay {

class Metrics {
 public:
  // Dial latency buckets, in milliseconds (the last is +Inf).
  static constexpr std::array<std::uint64_t, 12> kBucketsMs = {1,   2,   5,   10,   25,   50,
                                                               100, 250, 500, 1000, 2500, 10000};
  enum class HandshakeFailure {
    NotAdmitted,
    Replay,
    Decrypt,
    BadVersion,
    Timeout,
    Malformed,
    RateLimited,
    TooMany,
    TooManyFromSource,
    Evicted,
    ProxyHeaderMissing,    // a trusted balancer's connection without a valid PROXY v2 header
    ProxyHeaderUntrusted,  // a PROXY v2 header from an address not in [proxy_protocol] trusted
    Count
  };

  std::atomic<std::int64_t> links{0};
  std::atomic<std::int64_t> streams{0};
  std::atomic<std::uint64_t> bytes_up{0};    // agent -> targets
  std::atomic<std::uint64_t> bytes_down{0};  // targets -> agents
  // Streams accepted with no credit: their agent's budget of buffered bytes was in use.
  std::atomic<std::uint64_t> budget_waits{0};
  // Stream resumption: sessions whose link was lost, held now; resumes on a new link; stream bytes
  // sent again after them; sessions whose grace ran out before a link came back.
  std::atomic<std::int64_t> sessions_held{0};
  std::atomic<std::uint64_t> resumes{0};
  std::atomic<std::uint64_t> resumed_bytes{0};
  std::atomic<std::uint64_t> sessions_expired{0};

  // An agent link was established, or ended, with this cipher (counted in `links` too).
  void link_up(crypto::CipherSuite suite) {
    links++;
    links_by_suite_[static_cast<std::size_t>(suite)]++;
  }
  void link_down(crypto::CipherSuite suite) {
    links--;
    links_by_suite_[static_cast<std::size_t>(suite)]--;
  }
  void dial(frame::OpenCode code, std::uint64_t latency_ms);
  // An open answered without dialling (policy, limits, draining): counted, but not a latency sample.
  void refused(frame::OpenCode code) { dials_[static_cast<std::size_t>(code)]++; }
  void handshake_failure(HandshakeFailure why) { failures_[static_cast<std::size_t>(why)]++; }
  static HandshakeFailure classify(const Error& e);
  // `worker_links`: each worker thread's links, handshakes included (LinkPlacement::links).
  std::string render(const std::vector<std::size_t>& worker_links) const;

 private:
  std::array<std::atomic<std::int64_t>, 2> links_by_suite_{};  // by CipherSuite
  std::array<std::atomic<std::uint64_t>, 9> dials_{};          // by OpenCode
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(HandshakeFailure::Count)> failures_{};
  std::array<std::atomic<std::uint64_t>, kBucketsMs.size() + 1> buckets_{};
  std::atomic<std::uint64_t> latency_sum_ms_{0};
  std::atomic<std::uint64_t> latency_count_{0};
};

}  // namespace ferry::relay
