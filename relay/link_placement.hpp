// Which relay worker (event loop thread) a new link joins. Every worker accepts on its own
// SO_REUSEPORT listener, and the kernel hashes each connection to one of them: an agent's two links
// shared a worker half the time, and a keystroke on one link then waited behind the other link's
// download on that thread (docs/performance.md). So the worker that accepts a connection asks here,
// before any byte is read, and keeps it or hands the bare socket to the worker chosen.
//
// The choice: the worker with the fewest links from the connection's source (an agent's address, as
// RelayServer::rate_source gives it), then the one with the fewest links, then the accepting worker.
// Links are counted from placement until their handler has gone, handshakes in progress included.
// Thread-safe: every worker calls in from its own thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ferry::relay {

class LinkPlacement {
 public:
  // An accepted socket on its way to another worker.
  struct Arrival {
    int fd = -1;
    std::string source;
  };

  explicit LinkPlacement(std::size_t workers);

  // A worker takes part once `wake` (initialised on its own loop) can tell it of arrivals. Until then,
  // and after close(), nothing is placed on it.
  void open(std::size_t worker, uv_async_t* wake);
  // The worker drains: nothing more is placed on it. Returns the arrivals it had not taken; the worker
  // closes their sockets and release()s them. Call before closing `wake`.
  std::vector<Arrival> close(std::size_t worker);

  // Places a connection accepted by `worker` and counts it where it goes. Returns true when `worker`
  // keeps it; otherwise the arrival (its socket included) was queued for another worker, which is
  // woken and take()s it.
  bool place(std::size_t worker, Arrival& arrival);
  std::vector<Arrival> take(std::size_t worker);
  // A placed link has gone from `worker`.
  void release(std::size_t worker, const std::string& source);

  // Each worker's links now, handshakes included (GET /metrics).
  std::vector<std::size_t> links() const;

  // The rule, apart from the bookkeeping: `from_source[w]` and `totals[w]` are worker w's links from
  // the source and in all. Other workers with `open[w]` false are skipped; the accepting worker is
  // always a candidate, and wins ties (a hand-over costs a wake-up of another thread).
  static std::size_t choose(const std::vector<std::uint32_t>& from_source,
                            const std::vector<std::size_t>& totals, const std::vector<bool>& open,
                            std::size_t accepted_by);

 private:
  struct Worker {
    uv_async_t* wake = nullptr;  // null: not open
    std::vector<Arrival> arrivals;
  };

  mutable std::mutex mutex_;
  std::vector<Worker> workers_;
  std::vector<std::size_t> totals_;
  std::vector<bool> open_;
  // Only sources with a link somewhere: bounded by the relay's open connections.
  std::unordered_map<std::string, std::vector<std::uint32_t>> by_source_;
};

}  // namespace ferry::relay
