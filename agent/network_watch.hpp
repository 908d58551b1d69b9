// Tells the agent when the network under its links may have changed: an address or a route of the
// main table appeared or went (rtnetlink, common/codec/netlink_route.hpp), or the agent has just
// woken (WakeDetector). The agent then probes its links at once instead of waiting out the dead-peer
// time (docs/protocol.md "Noticing a dead link").
//
// Network changes are watched on Linux (rtnetlink); macOS would need a PF_ROUTE socket, which is not
// written yet. Elsewhere, or without netlink (a sandbox that forbids it), the wake timer still runs.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "agent/wake_detector.hpp"
#include "common/result.hpp"
#include "common/uv/handle.hpp"

namespace ferry::agent {

class NetworkWatch {
 public:
  using ChangeFn = std::function<void(const std::string& why)>;
  // A Wi-Fi switch is a burst of messages (addresses, then routes): those within this time of the
  // first are reported once, with the first one's description.
  static constexpr std::uint64_t kSettleMs = 200;

  NetworkWatch(uv_loop_t* loop, ChangeFn on_change);
  ~NetworkWatch();
  NetworkWatch(const NetworkWatch&) = delete;
  NetworkWatch& operator=(const NetworkWatch&) = delete;

  // Starts the wake timer, and the netlink socket if it can; the error says why not (the timer runs
  // all the same).
  Result<void> start();
  // Closes everything; `done` runs once the handles are closed.
  void stop(std::function<void()> done);

 private:
  static void on_readable(uv_poll_t* p, int status, int events) noexcept;
  void read_datagrams();
  void note(const std::string& why);
  void tick();

  uv_loop_t* loop_;
  ChangeFn on_change_;
  int fd_ = -1;
  WakeDetector wake_;
  std::string pending_;      // the first change of a burst, reported once the burst settles
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_poll_t> poll_{handles_};
  uv::Handle<uv_timer_t> wake_timer_{handles_};
  uv::Handle<uv_timer_t> settle_{handles_};
};

}  // namespace ferry::agent
