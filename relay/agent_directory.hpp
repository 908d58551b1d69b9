// Who may connect: the [[agents]] of relay.toml, by static key, and the last handshake timestamp
// accepted from each (replay protection). Shared by every link of the relay; reload() swaps the list
// atomically (SIGHUP) and keeps the timestamps of agents that stay.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config/relay_config.hpp"
#include "common/crypto/tai64n.hpp"
#include "common/link/buffer_budget.hpp"
#include "common/link/link_session.hpp"

namespace ferry::relay {

struct AgentInfo {
  std::string name;  // the agent's rules are looked up by it (policy_hooks), so a reload renames too
};

class AgentDirectory final : public link::Admission {
 public:
  // A restart forgets the last timestamps, so a message 1 recorded before it would be answered once
  // more: a first handshake's timestamp must not be older than `started` less kStartSlack (an agent's
  // clock may lag the relay's that much).
  static constexpr std::chrono::seconds kStartSlack{120};
  explicit AgentDirectory(const std::vector<config::AgentEntry>& agents,
                          std::chrono::system_clock::time_point started = std::chrono::system_clock::now())
      : floor_(crypto::tai64n_from(started - kStartSlack)) {
    reload(agents);
  }
  // Returns how many listed keys the new list no longer has (revoked agents).
  std::size_t reload(const std::vector<config::AgentEntry>& agents);

  bool admit(const crypto::PublicKey& key) override;
  bool fresh(const crypto::PublicKey& key, const crypto::Tai64n& timestamp) override;
  std::optional<AgentInfo> find(const crypto::PublicKey& key) const;
  // Counts an agent's open streams across all its links and workers; false when `limit` is reached.
  bool acquire_stream(const crypto::PublicKey& key, std::size_t limit);
  void release_stream(const crypto::PublicKey& key);
  // The same for an agent's established links, across workers.
  bool acquire_link(const crypto::PublicKey& key, std::size_t limit);
  // Name lookups in progress per key, across its links (LinkHandler::kMaxAgentLookups).
  bool acquire_lookup(const crypto::PublicKey& key, std::size_t limit);
  void release_lookup(const crypto::PublicKey& key);
  void release_link(const crypto::PublicKey& key);
  // The agent's budget of buffered bytes, one for all its links while any holds it.
  std::shared_ptr<link::BufferBudget> budget(const crypto::PublicKey& key);
  // [limits] max_buffered_mib_per_agent, for budgets made from now on and those in use.
  void set_buffer_limit(std::uint64_t bytes);

 private:
  using KeyBytes = std::array<std::uint8_t, 32>;
  mutable std::mutex mutex_;
  std::map<KeyBytes, AgentInfo> agents_;
  std::map<KeyBytes, std::size_t> lookups_;
  std::map<KeyBytes, crypto::Tai64n> last_;
  const crypto::Tai64n floor_;
  std::map<KeyBytes, std::size_t> streams_;
  std::map<KeyBytes, std::size_t> links_;
  std::map<KeyBytes, std::weak_ptr<link::BufferBudget>> budgets_;
  std::uint64_t buffer_limit_ = 64ull << 20;
};

}  // namespace ferry::relay
