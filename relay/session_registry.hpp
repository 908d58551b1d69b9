// Which worker holds each resumable session, for all workers (docs/protocol.md 4.13). A resume may
// land on any worker: the one that reads its message 1 asks here, and hands the connection to the
// holder (LinkPlacement::move_to) before it spends the message's timestamp. Only the key that made a
// session may move a connection to it. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/crypto/keys.hpp"
#include "common/link/handshake_payload.hpp"

namespace ferry::relay {

struct SessionIdHash {
  std::size_t operator()(const link::SessionId& id) const noexcept;
};

class SessionRegistry {
 public:
  void add(const link::SessionId& id, std::size_t worker, const crypto::PublicKey& agent);
  void remove(const link::SessionId& id);
  // The worker that holds `id` for `agent` (another key's session, or none: nothing).
  std::optional<std::size_t> worker_of(const link::SessionId& id, const crypto::PublicKey& agent) const;
  std::size_t size() const;

 private:
  struct Entry {
    std::size_t worker;
    crypto::PublicKey agent;
  };
  mutable std::mutex mutex_;
  std::unordered_map<link::SessionId, Entry, SessionIdHash> sessions_;
};

}  // namespace ferry::relay
