#include "relay/agent_directory.hpp"

namespace ferry::relay {

void AgentDirectory::reload(const std::vector<config::AgentEntry>& agents) {
  std::map<KeyBytes, AgentInfo> next;
  for (const auto& a : agents) next[a.public_key.bytes] = AgentInfo{a.name, a.rules};
  std::lock_guard lock(mutex_);
  agents_.swap(next);
  std::erase_if(last_, [this](const auto& kv) { return !agents_.contains(kv.first); });
}

bool AgentDirectory::admit(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  return agents_.contains(key.bytes);
}

bool AgentDirectory::fresh(const crypto::PublicKey& key, const crypto::Tai64n& timestamp) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = last_.try_emplace(key.bytes, timestamp);
  if (inserted) return true;
  if (!crypto::newer(timestamp, it->second)) return false;
  it->second = timestamp;
  return true;
}

std::optional<AgentInfo> AgentDirectory::find(const crypto::PublicKey& key) const {
  std::lock_guard lock(mutex_);
  auto it = agents_.find(key.bytes);
  if (it == agents_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ferry::relay
