#include "relay/link_placement.hpp"

#include <tuple>
#include <utility>

namespace ferry::relay {

LinkPlacement::LinkPlacement(std::size_t workers)
    : workers_(workers), totals_(workers, 0), open_(workers, false) {}

void LinkPlacement::open(std::size_t worker, uv_async_t* wake) {
  std::lock_guard lock(mutex_);
  workers_.at(worker).wake = wake;
  open_.at(worker) = true;
}

std::vector<LinkPlacement::Arrival> LinkPlacement::close(std::size_t worker) {
  std::lock_guard lock(mutex_);
  workers_.at(worker).wake = nullptr;  // under the lock: no place() wakes it once this returns
  open_.at(worker) = false;
  return std::exchange(workers_[worker].arrivals, {});
}

std::size_t LinkPlacement::choose(const std::vector<std::uint32_t>& from_source,
                                  const std::vector<std::size_t>& totals, const std::vector<bool>& open,
                                  std::size_t accepted_by) {
  std::size_t best = accepted_by;  // ties stay where they were accepted: no hand-over
  const auto rank = [&](std::size_t w) { return std::tuple(from_source[w], totals[w]); };
  for (std::size_t w = 0; w < totals.size(); ++w)
    if (open[w] && rank(w) < rank(best)) best = w;
  return best;
}

bool LinkPlacement::place(std::size_t worker, Arrival& arrival) {
  std::lock_guard lock(mutex_);
  auto& counts = by_source_[arrival.source];
  counts.resize(totals_.size(), 0);
  const std::size_t to = choose(counts, totals_, open_, worker);
  ++counts[to];
  ++totals_[to];
  if (to == worker) return true;
  workers_[to].arrivals.push_back(std::move(arrival));
  uv_async_send(workers_[to].wake);  // under the lock: close() cannot end the handle meanwhile
  return false;
}

std::vector<LinkPlacement::Arrival> LinkPlacement::take(std::size_t worker) {
  std::lock_guard lock(mutex_);
  return std::exchange(workers_.at(worker).arrivals, {});
}

void LinkPlacement::release(std::size_t worker, const std::string& source) {
  std::lock_guard lock(mutex_);
  auto it = by_source_.find(source);
  if (it == by_source_.end() || it->second.at(worker) == 0 || totals_.at(worker) == 0) return;
  --it->second[worker];
  --totals_[worker];
  for (std::uint32_t n : it->second)
    if (n != 0) return;
  by_source_.erase(it);
}

std::vector<std::size_t> LinkPlacement::links() const {
  std::lock_guard lock(mutex_);
  return totals_;
}

}  // namespace ferry::relay
