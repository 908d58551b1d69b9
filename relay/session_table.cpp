#include "relay/session_table.hpp"

#include "relay/link_handler.hpp"

namespace ferry::relay {

void SessionTable::add(const link::SessionId& id, LinkHandler& holder) {
  sessions_[id] = &holder;
  registry_.add(id, worker_, holder.peer());
}

void SessionTable::remove(const link::SessionId& id, const LinkHandler& holder) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second != &holder) return;
  sessions_.erase(it);
  registry_.remove(id);
}

LinkHandler* SessionTable::holder(const link::SessionId& id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

link::SessionFinder::Found SessionTable::find(const crypto::PublicKey& initiator, const link::SessionId& id) {
  if (const LinkHandler* h = holder(id)) return h->peer() == initiator ? Found::Here : Found::Nowhere;
  const auto worker = registry_.worker_of(id, initiator);
  return worker && *worker != worker_ ? Found::Elsewhere : Found::Nowhere;
}

std::vector<LinkHandler*> SessionTable::holders() const {
  std::vector<LinkHandler*> out;
  out.reserve(sessions_.size());
  for (const auto& [id, h] : sessions_) out.push_back(h);
  return out;
}

}  // namespace ferry::relay
