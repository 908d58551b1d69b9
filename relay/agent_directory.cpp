#include "relay/agent_directory.hpp"

#include <algorithm>

namespace ferry::relay {

std::size_t AgentDirectory::reload(const std::vector<config::AgentEntry>& agents) {
  std::map<KeyBytes, AgentInfo> next;
  for (const auto& a : agents) next[a.public_key.bytes] = AgentInfo{a.name};
  std::lock_guard lock(mutex_);
  agents_.swap(next);
  std::erase_if(last_, [this](const auto& kv) { return !agents_.contains(kv.first); });
  return static_cast<std::size_t>(std::count_if(
      next.begin(), next.end(), [this](const auto& kv) { return !agents_.contains(kv.first); }));
}

bool AgentDirectory::admit(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  return agents_.contains(key.bytes);
}

bool AgentDirectory::fresh(const crypto::PublicKey& key, const crypto::Tai64n& timestamp) {
  if (!crypto::newer(timestamp, floor_)) return false;  // recorded before this relay started
  std::lock_guard lock(mutex_);
  auto [it, inserted] = last_.try_emplace(key.bytes, timestamp);
  if (inserted) return true;
  if (!crypto::newer(timestamp, it->second)) return false;
  it->second = timestamp;
  return true;
}

bool AgentDirectory::acquire_stream(const crypto::PublicKey& key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::size_t& n = streams_[key.bytes];
  if (n >= limit) return false;
  ++n;
  return true;
}

void AgentDirectory::release_stream(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(key.bytes);
  if (it == streams_.end()) return;
  if (--it->second == 0) streams_.erase(it);
}

std::optional<AgentInfo> AgentDirectory::find(const crypto::PublicKey& key) const {
  std::lock_guard lock(mutex_);
  auto it = agents_.find(key.bytes);
  if (it == agents_.end()) return std::nullopt;
  return it->second;
}

bool AgentDirectory::acquire_link(const crypto::PublicKey& key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::size_t& n = links_[key.bytes];
  if (n >= limit) return false;
  ++n;
  return true;
}

bool AgentDirectory::acquire_lookup(const crypto::PublicKey& key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::size_t& n = lookups_[key.bytes];
  if (n >= limit) return false;
  ++n;
  return true;
}

void AgentDirectory::release_lookup(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  auto it = lookups_.find(key.bytes);
  if (it == lookups_.end()) return;
  if (--it->second == 0) lookups_.erase(it);
}

void AgentDirectory::release_link(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  auto it = links_.find(key.bytes);
  if (it == links_.end()) return;
  if (--it->second == 0) links_.erase(it);
}

}  // namespace ferry::relay
