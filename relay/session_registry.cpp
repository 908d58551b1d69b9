#include "relay/session_registry.hpp"

#include <cstring>

namespace ferry::relay {

// The ids are random: any eight of their bytes hash as well as all sixteen.
std::size_t SessionIdHash::operator()(const link::SessionId& id) const noexcept {
  std::uint64_t h = 0;
  std::memcpy(&h, id.data(), sizeof h);
  return static_cast<std::size_t>(h);
}

void SessionRegistry::add(const link::SessionId& id, std::size_t worker, const crypto::PublicKey& agent) {
  std::lock_guard lock(mutex_);
  sessions_[id] = Entry{worker, agent};
}

void SessionRegistry::remove(const link::SessionId& id) {
  std::lock_guard lock(mutex_);
  sessions_.erase(id);
}

std::optional<std::size_t> SessionRegistry::worker_of(const link::SessionId& id,
                                                      const crypto::PublicKey& agent) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || !(it->second.agent == agent)) return std::nullopt;
  return it->second.worker;
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace ferry::relay
