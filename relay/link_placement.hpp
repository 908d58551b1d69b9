// Which relay worker (event loop thread) a new link joins. Every worker accepts on its own
// SO_REUSEPORT listener, and the kernel hashes each connection to one of them: an agent's two links
// shared a worker half the time, and a keystroke on one link then waited behind the other link's
// download on that thread (docs/decisions/0018-relay-worker-placement.md). So the worker that accepts a
// connection asks here, before any byte is read, and keeps it or hands the bare socket to the worker chosen.
//
// The choice: the worker with the fewest links from the connection's source (an agent's address, as
// RelayServer::rate_source gives it), then the one with the fewest links, then the accepting worker.
// Links are counted from placement until their handler has gone, handshakes in progress included.
// A worker holding its limit of handshakes in progress takes no more: the limit is per worker, and
// an unauthenticated flood must fill every worker before it matters. Even then an agent's link is not
// refused: the accepting worker makes room by evicting its oldest handshake (Placed::Evict), which a
// silent or trickling connection is, since a well-formed message 1 is answered at once. And one
// source (an IPv4 address, an IPv6 /64) holds at most kMaxHandshakesPerSource handshakes at a time,
// so a few addresses cannot fill the relay at all.
// Thread-safe: every worker calls in from its own thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/codec/byte_reader.hpp"

namespace ferry::relay {

class LinkPlacement {
 public:
  // An accepted socket on its way to another worker.
  struct Arrival {
    Arrival() = default;
    Arrival(int socket, std::string from, Bytes first = {}, std::string proxied = {})
        : fd(socket), source(std::move(from)), message1(std::move(first)), peer(std::move(proxied)) {}
    int fd = -1;
    std::string source;
    Bytes message1;  // a resume moved from another worker: what that worker read
    // The agent's address from a trusted balancer's PROXY header ("IP:PORT"); empty: the socket's.
    std::string peer;
  };
  // Here: the accepting worker keeps it. Elsewhere: queued for another worker. Evict: every worker is
  // at its limit; the accepting worker keeps it and must end its oldest handshake. SourceFull: the
  // source holds kMaxHandshakesPerSource handshakes already; nothing was counted.
  enum class Placed { Here, Elsewhere, Evict, SourceFull };
  // 16: twenty agents behind one NAT address, reconnecting at once after a relay restart, all get in
  // within a few retries (issue 21, scenario h); a few addresses still cannot fill a worker's 256.
  static constexpr std::uint32_t kMaxHandshakesPerSource = 16;
  // One worker as the rule sees it.
  struct Candidate {
    bool open = false;              // taking part (see open())
    bool full = false;              // at its limit of handshakes in progress
    std::uint32_t from_source = 0;  // its links from the connection's source
    std::size_t links = 0;          // its links in all
  };

  LinkPlacement(std::size_t workers, std::size_t max_handshakes_per_worker);
  // The source holds kMaxHandshakesPerSource handshakes already (place() checks it again).
  bool source_full(const std::string& source) const;

  // A worker takes part once `wake` (initialised on its own loop) can tell it of arrivals. Until then,
  // and after close(), nothing is placed on it.
  void open(std::size_t worker, uv_async_t* wake);
  // The worker drains: nothing more is placed on it. Returns the arrivals it had not taken; the worker
  // closes their sockets and release()s them (still handshaking). Call before closing `wake`.
  std::vector<Arrival> close(std::size_t worker);

  // Places a connection accepted by `worker` and counts it, as a handshake in progress, where it goes
  // (see Placed). Elsewhere: the arrival (its socket included) was queued for another worker, which
  // is woken and take()s it.
  Placed place(std::size_t worker, Arrival& arrival);
  std::vector<Arrival> take(std::size_t worker);
  // A resume that names a session `worker` holds: counted and queued there as place() does, with no
  // choice and no per-source limit (an admitted agent's message 1 came with it). False when the
  // worker takes nothing (draining); the caller still owns the socket.
  bool move_to(std::size_t worker, Arrival arrival);
  // A placed link finished its handshake.
  void established(std::size_t worker, const std::string& source);
  // The worker's handshakes in progress: past half its limit, new ones get a short deadline.
  std::size_t handshakes(std::size_t worker) const;
  std::size_t max_handshakes() const noexcept { return max_handshakes_; }
  // A placed link has gone from `worker`; `handshaking`: before established().
  void release(std::size_t worker, const std::string& source, bool handshaking);

  // Each worker's links now, handshakes included (GET /metrics).
  std::vector<std::size_t> links() const;

  // The rule, apart from the bookkeeping. Workers other than `accepted_by` that are not open or are
  // full are skipped; the accepting worker wins ties (a hand-over costs a wake-up of another thread).
  // None when the accepting worker is full and no other can take the connection.
  static std::optional<std::size_t> choose(const std::vector<Candidate>& workers, std::size_t accepted_by);

 private:
  struct Worker {
    uv_async_t* wake = nullptr;  // null: not open
    std::vector<Arrival> arrivals;
    std::size_t links = 0;
    std::size_t handshakes = 0;
  };
  // A source's links, by worker: (worker, count) pairs, usually one or two, never a zero count.
  using SourceLinks = std::vector<std::pair<std::size_t, std::uint32_t>>;

  mutable std::mutex mutex_;
  std::vector<Worker> workers_;
  std::size_t max_handshakes_;
  // Only sources with a link somewhere: bounded by the relay's open connections.
  std::unordered_map<std::string, SourceLinks> by_source_;
  // Handshakes in progress per source, only while there are any.
  std::unordered_map<std::string, std::uint32_t> handshaking_by_source_;
  void handshake_ended(const std::string& source);
};

}  // namespace ferry::relay
