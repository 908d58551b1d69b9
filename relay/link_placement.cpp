#include "relay/link_placement.hpp"

#include <algorithm>
#include <tuple>

namespace ferry::relay {

LinkPlacement::LinkPlacement(std::size_t workers, std::size_t max_handshakes_per_worker)
    : workers_(workers), max_handshakes_(max_handshakes_per_worker) {}

void LinkPlacement::open(std::size_t worker, uv_async_t* wake) {
  std::lock_guard lock(mutex_);
  workers_.at(worker).wake = wake;
}

std::vector<LinkPlacement::Arrival> LinkPlacement::close(std::size_t worker) {
  std::lock_guard lock(mutex_);
  workers_.at(worker).wake = nullptr;  // under the lock: no place() wakes it once this returns
  return std::exchange(workers_[worker].arrivals, {});
}

std::optional<std::size_t> LinkPlacement::choose(const std::vector<Candidate>& workers,
                                                 std::size_t accepted_by) {
  const auto rank = [&](std::size_t w) { return std::tuple(workers[w].from_source, workers[w].links); };
  std::optional<std::size_t> best;
  if (!workers.at(accepted_by).full) best = accepted_by;
  for (std::size_t w = 0; w < workers.size(); ++w)
    if (w != accepted_by && workers[w].open && !workers[w].full && (!best || rank(w) < rank(*best))) best = w;
  return best;
}

bool LinkPlacement::source_full(const std::string& source) const {
  std::lock_guard lock(mutex_);
  const auto h = handshaking_by_source_.find(source);
  return h != handshaking_by_source_.end() && h->second >= kMaxHandshakesPerSource;
}

LinkPlacement::Placed LinkPlacement::place(std::size_t worker, Arrival& arrival) {
  std::lock_guard lock(mutex_);
  if (auto h = handshaking_by_source_.find(arrival.source);
      h != handshaking_by_source_.end() && h->second >= kMaxHandshakesPerSource)
    return Placed::SourceFull;
  SourceLinks& mine = by_source_[arrival.source];
  std::vector<Candidate> candidates(workers_.size());
  for (std::size_t w = 0; w < workers_.size(); ++w)
    candidates[w] = {workers_[w].wake != nullptr, workers_[w].handshakes >= max_handshakes_, 0,
                     workers_[w].links};
  for (const auto& [w, n] : mine) candidates[w].from_source = n;
  // Every worker that could take it is full: the accepting worker takes it and evicts its oldest.
  const auto to = choose(candidates, worker).value_or(worker);
  const bool evict = workers_[to].handshakes >= max_handshakes_;
  ++handshaking_by_source_[arrival.source];
  auto it = std::find_if(mine.begin(), mine.end(), [&](const auto& e) { return e.first == to; });
  if (it == mine.end())
    mine.emplace_back(to, 1);
  else
    ++it->second;
  Worker& target = workers_[to];
  ++target.links;
  ++target.handshakes;
  if (to == worker) return evict ? Placed::Evict : Placed::Here;
  target.arrivals.push_back(std::move(arrival));
  uv_async_send(target.wake);  // under the lock: close() cannot end the handle meanwhile
  return Placed::Elsewhere;
}

bool LinkPlacement::move_to(std::size_t worker, Arrival arrival) {
  std::lock_guard lock(mutex_);
  Worker& target = workers_.at(worker);
  if (!target.wake) return false;
  SourceLinks& mine = by_source_[arrival.source];
  auto it = std::find_if(mine.begin(), mine.end(), [&](const auto& e) { return e.first == worker; });
  if (it == mine.end())
    mine.emplace_back(worker, 1);
  else
    ++it->second;
  ++handshaking_by_source_[arrival.source];
  ++target.links;
  ++target.handshakes;
  target.arrivals.push_back(std::move(arrival));
  uv_async_send(target.wake);  // under the lock: close() cannot end the handle meanwhile
  return true;
}

std::vector<LinkPlacement::Arrival> LinkPlacement::take(std::size_t worker) {
  std::lock_guard lock(mutex_);
  return std::exchange(workers_.at(worker).arrivals, {});
}

void LinkPlacement::established(std::size_t worker, const std::string& source) {
  std::lock_guard lock(mutex_);
  Worker& w = workers_.at(worker);
  if (w.handshakes > 0) --w.handshakes;
  handshake_ended(source);
}

std::size_t LinkPlacement::handshakes(std::size_t worker) const {
  std::lock_guard lock(mutex_);
  return workers_.at(worker).handshakes;
}

void LinkPlacement::handshake_ended(const std::string& source) {
  auto h = handshaking_by_source_.find(source);
  if (h != handshaking_by_source_.end() && --h->second == 0) handshaking_by_source_.erase(h);
}

void LinkPlacement::release(std::size_t worker, const std::string& source, bool handshaking) {
  std::lock_guard lock(mutex_);
  auto it = by_source_.find(source);
  if (it == by_source_.end()) return;
  SourceLinks& mine = it->second;
  auto e = std::find_if(mine.begin(), mine.end(), [&](const auto& p) { return p.first == worker; });
  if (e == mine.end()) return;  // never placed there: nothing to take back
  if (--e->second == 0) mine.erase(e);
  if (mine.empty()) by_source_.erase(it);
  Worker& w = workers_.at(worker);
  if (w.links > 0) --w.links;
  if (handshaking && w.handshakes > 0) --w.handshakes;
  if (handshaking) handshake_ended(source);
}

std::vector<std::size_t> LinkPlacement::links() const {
  std::lock_guard lock(mutex_);
  std::vector<std::size_t> out;
  for (const Worker& w : workers_) out.push_back(w.links);
  return out;
}

}  // namespace ferry::relay
