#include "relay/agent_directory.hpp"

#include <algorithm>

namespace ferry::relay {
namespace {

// A per-key count with a limit (streams, links, lookups); the caller holds the directory's mutex.
template <class Counts, class Key>
bool take(Counts& counts, const Key& key, std::size_t limit) {
  std::size_t& n = counts[key];
  if (n >= limit) return false;
  ++n;
  return true;
}

template <class Counts, class Key>
void give(Counts& counts, const Key& key) {
  auto it = counts.find(key);
  if (it == counts.end()) return;  // an extra release does not underflow into a large count
  if (--it->second == 0) counts.erase(it);
}

}  // namespace

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
  return take(streams_, key.bytes, limit);
}

void AgentDirectory::release_stream(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  give(streams_, key.bytes);
}

std::optional<AgentInfo> AgentDirectory::find(const crypto::PublicKey& key) const {
  std::lock_guard lock(mutex_);
  auto it = agents_.find(key.bytes);
  if (it == agents_.end()) return std::nullopt;
  return it->second;
}

bool AgentDirectory::acquire_link(const crypto::PublicKey& key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  return take(links_, key.bytes, limit);
}

bool AgentDirectory::acquire_lookup(const crypto::PublicKey& key, std::size_t limit) {
  std::lock_guard lock(mutex_);
  return take(lookups_, key.bytes, limit);
}

void AgentDirectory::release_lookup(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  give(lookups_, key.bytes);
}

void AgentDirectory::release_link(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  give(links_, key.bytes);
}

std::shared_ptr<link::BufferBudget> AgentDirectory::budget(const crypto::PublicKey& key) {
  std::lock_guard lock(mutex_);
  if (auto held = budgets_[key.bytes].lock()) return held;
  std::erase_if(budgets_, [](const auto& kv) { return kv.second.expired(); });
  auto made = std::make_shared<link::BufferBudget>(buffer_limit_);
  budgets_[key.bytes] = made;
  return made;
}

void AgentDirectory::set_buffer_limit(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  buffer_limit_ = bytes;
  for (auto& [key, weak] : budgets_)
    if (auto b = weak.lock()) b->set_limit(bytes);
}

}  // namespace ferry::relay
