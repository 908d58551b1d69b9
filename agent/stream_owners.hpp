// Which client session owns which link stream, both ways: the link looks up a stream's owner for each
// frame, and a closing session must find its streams without a scan (closing 10,000 connections was
// quadratic with a one-way map). An owner holds one stream, or a few (an HTTP keep-alive connection
// that crossed origins).
#pragma once

#include <unordered_map>
#include <vector>

#include "common/link/mux.hpp"

namespace ferry::agent {

class StreamOwner;

class StreamOwners {
 public:
  void add(link::StreamId id, StreamOwner* owner) {
    by_id_[id] = owner;
    by_owner_[owner].push_back(id);
  }
  StreamOwner* find(link::StreamId id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  }
  // Returns whether the id was known.
  bool erase(link::StreamId id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    auto owned = by_owner_.find(it->second);
    std::erase(owned->second, id);
    if (owned->second.empty()) by_owner_.erase(owned);
    by_id_.erase(it);
    return true;
  }
  // Forgets every stream of `owner` and returns their ids.
  std::vector<link::StreamId> take(StreamOwner* owner) {
    auto owned = by_owner_.find(owner);
    if (owned == by_owner_.end()) return {};
    std::vector<link::StreamId> ids = std::move(owned->second);
    by_owner_.erase(owned);
    for (link::StreamId id : ids) by_id_.erase(id);
    return ids;
  }
  // Empties the table, returning what it held (the link went away).
  std::unordered_map<link::StreamId, StreamOwner*> take_all() {
    by_owner_.clear();
    return std::exchange(by_id_, {});
  }
  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  std::unordered_map<link::StreamId, StreamOwner*> by_id_;
  std::unordered_map<StreamOwner*, std::vector<link::StreamId>> by_owner_;
};

}  // namespace ferry::agent
