// One worker's resumable sessions (docs/protocol.md 4.13): each established link that agreed on
// resumption, live or lost and held for its grace, by session id. It answers the handshake's question
// (link::SessionFinder): a message 1 that names a session held here resumes it; one held by another
// worker moves there (SessionRegistry); any other gets a new session.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/link/link_handshake.hpp"
#include "relay/session_registry.hpp"

namespace ferry::relay {

class LinkHandler;

class SessionTable final : public link::SessionFinder {
 public:
  SessionTable(SessionRegistry& registry, std::size_t worker) : registry_(registry), worker_(worker) {}

  void add(const link::SessionId& id, LinkHandler& holder);
  void remove(const link::SessionId& id, const LinkHandler& holder);
  LinkHandler* holder(const link::SessionId& id) const;
  Found find(const crypto::PublicKey& initiator, const link::SessionId& id) override;
  // Every held session, for the sweep that ends those whose grace ran out.
  std::vector<LinkHandler*> holders() const;
  std::size_t size() const noexcept { return sessions_.size(); }

 private:
  SessionRegistry& registry_;
  std::size_t worker_;
  std::unordered_map<link::SessionId, LinkHandler*, SessionIdHash> sessions_;
};

}  // namespace ferry::relay
