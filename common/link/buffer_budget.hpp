// The bytes one agent may keep buffered at the relay, over all its links (docs/protocol.md "Memory
// per agent"): receive credit granted to the agent (bytes it may send before the target reads them)
// plus the chunks of the send queues (bytes targets sent before the agent took them). Credit, not
// bytes received, is what counts on the receive side: once granted it cannot be taken back, so a
// hostile agent can always fill it.
//
// The limit L is split by what is still available:
//
//   available  L ........... L/2 ............. L/8 ............. 0
//   new stream   full window   | small window     | none: waits for credit
//   growth       yes           | no               | no
//   send queue   reads in whole chunks ... | (under L/16) small reads | (0) reading stops
//
// So credit never takes more than seven eighths, and send queues always have an eighth of their
// own. The small band is wide on purpose: a stream with no credit cannot send its first request,
// and while the agent's other streams sit idle holding their windows nothing gives credit back, so
// the band must hold as many idle connections as an agent keeps (10,000 held connections, each with
// a small window, at the default 64 MiB: the quarter this band once stopped at left 1,680 of them
// with no credit at all, and their requests waited for good). Links on several worker threads share one
// budget, so the count is atomic; each verdict reads it once and is only as exact as that read (a link
// overshoots by at most one read per stream).
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry::link {

class BufferBudget {
 public:
  // A stream opened below half of the limit gets this much credit: a request line or a TLS hello
  // goes at once, and 12,288 such streams fit in the band between L/2 and L/8 at the default 64 MiB.
  static constexpr std::uint32_t kSmallWindow = 2 * 1024;

  explicit BufferBudget(std::uint64_t limit) noexcept : limit_(limit) {}
  BufferBudget(const BufferBudget&) = delete;
  BufferBudget& operator=(const BufferBudget&) = delete;

  void set_limit(std::uint64_t limit) noexcept { limit_.store(limit, std::memory_order_relaxed); }
  std::uint64_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t available() const noexcept {
    const std::uint64_t u = used(), l = limit();
    return u >= l ? 0 : l - u;
  }
  void take(std::uint64_t n) noexcept { used_.fetch_add(n, std::memory_order_relaxed); }
  void give(std::uint64_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }

  // The receive window a new (or credit-starved) stream gets now: `full` while above half of the
  // limit, kSmallWindow above an eighth, else 0.
  std::uint32_t open_window(std::uint32_t full) const noexcept;
  // How far the streams' windows may grow now, in total.
  std::uint64_t growth_room() const noexcept;
  // Readers should read small pieces, so that the streams reading at once overshoot by little.
  bool tight() const noexcept { return available() < limit() / 16; }
  bool spent() const noexcept { return available() == 0; }

 private:
  std::atomic<std::uint64_t> limit_;
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace ferry::link
