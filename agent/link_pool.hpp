// The agent's links to the relay: agent.toml [relay] links of them (default 2), each a LinkClient
// with its own TCP connection, handshake, keys and reconnects. The contract allows "a small pool
// where that measurably helps": a new stream goes to the link that moved the least lately
// (link_choice.hpp), so a bulk transfer does not queue ahead of an interactive stream on one TCP
// connection (docs/decisions/0016-pool-of-links.md). Links connect one at a time and the others only while
// the primary is up: the relay accepts an agent's handshake timestamps in order only, and a relay that is
// down gets one agent's retries, not one per link.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "agent/link_choice.hpp"
#include "agent/link_client.hpp"

namespace ferry::agent {

class LinkPool {
 public:
  LinkPool(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key);
  LinkPool(const LinkPool&) = delete;
  LinkPool& operator=(const LinkPool&) = delete;

  void start();
  // Asks the relay for a stream to `target` on the chosen link; while no link is up, the primary's
  // open() waits for it (LinkClient::kOpenWaitMs). As LinkClient::open: the handler gets the
  // stream's ref (on_open_sent), which names the link, then the answer.
  void open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms = 0);
  // The handler is going away: its opens still waiting for a link are dropped, on every link.
  void cancel(link::StreamHandler* handler);
  // The network may have changed under the links (NetworkWatch): each checks its link at once.
  void probe(const std::string& why);
  // `fn` runs each time the primary link comes up on a new session (not on a resume): the path to
  // the relay may be a new one, so the agent checks its egress again.
  void on_new_session(std::function<void()> fn) { on_new_session_ = std::move(fn); }
  // `fn` gets each route list a link's relay pushes (every link of the pool gets the same one).
  void on_routes(std::function<void(const frame::Routes&)> fn) { on_routes_ = std::move(fn); }
  // Standby (another relay of agent.toml takes new streams): links with streams, or with streams held
  // for resumption, carry on; the others close when idle and do not reconnect. Off: they connect again.
  void set_standby(bool standby);
  bool any_up() const noexcept;
  // Opens waiting for a link of this pool go to `open` instead (another relay's pool).
  void hand_over_waiting(const LinkClient::OpenFn& open);
  // Drains and stops every link; `done` runs once all are closed.
  void stop(std::function<void()> done);

  std::size_t size() const noexcept { return links_.size(); }
  LinkClient& link(std::size_t i) { return *links_[i]; }
  const LinkClient& link(std::size_t i) const { return *links_[i]; }
  // The pool as one link for `status` (state "up" while any link is), then each link.
  LinkStatus status() const;
  std::vector<LinkStatus> statuses() const;

 private:
  bool may_connect(std::size_t i) const;
  void on_change();

  uv_loop_t* loop_;
  std::vector<std::unique_ptr<LinkClient>> links_;
  std::vector<RecentBytes> recent_;
  std::vector<std::uint64_t> last_chosen_;  // per link: the open that last went there (opens_)
  std::uint64_t opens_ = 0;
  std::vector<LinkLoad> loads_;  // scratch for open()
  bool stopping_ = false;
  bool standby_ = false;
  std::size_t stopped_ = 0;
  std::uint64_t session_generation_ = 0;
  std::function<void()> on_new_session_;
  std::function<void(const frame::Routes&)> on_routes_;
};

}  // namespace ferry::agent
