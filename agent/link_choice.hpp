// Which link of the agent's pool a new stream goes to. A bulk transfer queues megabytes on its link,
// and every stream behind it on the same TCP connection waits for them (docs/performance.md,
// "Head-of-line"); with two links, a new stream goes where little has moved lately, so an interactive
// stream opened beside a download rides a connection of its own, and a flow-queueing router
// (fq_codel) at home sees two flows. Sans-I/O: the pool feeds it byte counts and the time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace ferry::agent {

// Bytes a link moved lately, each counted less the longer ago it moved (halved every kHalfLifeMs),
// fed the link's running byte count whenever a stream opens. A link that moves R bytes a second
// settles at about R x 1.44.
class RecentBytes {
 public:
  static constexpr double kHalfLifeMs = 1000;

  // `total` is the link's bytes sent + received so far (never decreasing), `now_ms` a monotonic clock.
  void update(std::uint64_t total, std::uint64_t now_ms);
  double value() const noexcept { return value_; }

 private:
  double value_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t at_ms_ = 0;
  bool started_ = false;
};

struct LinkLoad {
  bool up = false;    // established and taking new streams
  double recent = 0;  // RecentBytes::value()
  std::size_t streams = 0;
  std::uint64_t last_chosen = 0;  // when a stream last went to it (an open's sequence number; 0: never)
};

// Links within this many recent bytes of the lightest are equally free, and the one with the fewest
// streams wins: small exchanges (a few KiB each) spread by count, while a link that carries a bulk
// transfer (megabytes a second) is avoided.
inline constexpr double kBusyMarginBytes = 256 * 1024;

// The index of the link for a new stream: among the up links within kBusyMarginBytes of the
// lightest, the one with the fewest streams, then the one chosen least lately, then the lowest
// index. Empty when no link is up. The second rule keeps two streams opened back to back apart when
// the counts tie by accident (a stream that just ended both ways is still counted until its last
// acknowledgement): a download then never lands beside the interactive stream opened just before
// it, which on a link under BBR costs that stream the download's queue (docs/decisions/0026).
std::optional<std::size_t> choose_link(std::span<const LinkLoad> links);

}  // namespace ferry::agent
