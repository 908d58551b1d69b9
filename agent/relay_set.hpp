// The relays of agent.toml (`[relay] address` as a list): a LinkPool for each, used one at a time.
// New streams go to the active relay. When it has had no link up for kFailoverMs (it stopped
// answering: killed, unreachable, its handshake unanswered), or its egress check found it leaving
// from another address than `expected_egress`, the next relay in the list (wrapping around, skipping
// rejected ones) becomes active: opens waiting for the old one move to it, so a new request is
// answered within about kFailoverMs plus one connection.
//
// Streams live on their relay. A relay that is no longer active keeps its open streams, and those
// its lost link holds for resumption (its links go on reconnecting to it within its grace); its idle
// links close, and it makes no new ones (standby). The agent does not move back to an earlier relay
// while the active one works: a flapping relay would otherwise pull every new stream back and forth.
// A relay rejected for its egress is tried again after kRejectMs (its egress is checked again then).
//
// With one relay this is a LinkPool and nothing more.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/link_pool.hpp"

namespace ferry::agent {

struct RelayState {
  std::string address;
  // "serving", "standby", "down: WHY" (while active and not up), "not used: WHY" (rejected).
  std::string state;
};

class RelaySet {
 public:
  static constexpr std::uint64_t kFailoverMs = 2500;
  static constexpr std::uint64_t kTickMs = 250;
  static constexpr std::uint64_t kRejectMs = 5 * 60'000;

  RelaySet(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key);
  RelaySet(const RelaySet&) = delete;
  RelaySet& operator=(const RelaySet&) = delete;

  void start();
  // As LinkPool's, on the active relay.
  void open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms = 0);
  void cancel(link::StreamHandler* handler);
  void probe(const std::string& why);
  // The active relay's primary link came up on a new session (egress check); route lists from any.
  void on_new_session(std::function<void()> fn) { on_new_session_ = std::move(fn); }
  void on_routes(std::function<void(const frame::Routes&)> fn) { on_routes_ = std::move(fn); }
  void stop(std::function<void()> done);

  // Relay `index`'s egress disagrees with expected_egress: it is not used for kRejectMs, and if it is
  // the active one, another takes new streams. False when there is no other relay to move to.
  bool reject(std::size_t index, const std::string& why);

  std::size_t size() const noexcept { return pools_.size(); }
  LinkPool& pool(std::size_t i) { return *pools_[i]; }
  std::size_t active() const noexcept { return active_; }
  const std::string& active_address() const { return configs_[active_]->relay_address; }
  // The active relay's pool as one link, and each of its links.
  LinkStatus status() const { return pools_[active_]->status(); }
  std::vector<LinkStatus> statuses() const { return pools_[active_]->statuses(); }
  std::vector<RelayState> states() const;

 private:
  void tick();
  void activate(std::size_t next, const std::string& why);

  uv_loop_t* loop_;
  std::vector<std::unique_ptr<config::AgentConfig>> configs_;  // one per relay: its address and key
  std::vector<std::unique_ptr<LinkPool>> pools_;
  std::vector<std::uint64_t> rejected_until_;  // uv_now() ms; 0: not rejected
  std::vector<std::string> rejected_why_;
  std::vector<std::string> left_why_;  // why new streams left a relay, for status
  std::size_t active_ = 0;
  std::uint64_t down_since_ = 0;  // the active relay has had no link up since (0: it has one)
  bool stopping_ = false;
  std::size_t stopped_ = 0;
  std::function<void()> on_new_session_;
  std::function<void(const frame::Routes&)> on_routes_;
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_timer_t> tick_{handles_};
};

}  // namespace ferry::agent
