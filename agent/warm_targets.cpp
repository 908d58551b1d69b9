#include "agent/warm_targets.hpp"

#include <algorithm>
#include <cctype>

namespace ferry::agent {

// Host names compare without regard to case (RFC 4343); "Example.org:443" is example.org:443.
std::string WarmTargets::key(const Target& target) {
  std::string k = target.to_string();
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  return k;
}

bool WarmTargets::warm(const Target& target, std::uint64_t now_ms, std::uint32_t routes_version) const {
  const auto it = targets_.find(key(target));
  if (it == targets_.end()) return false;
  return it->second.routes_version == routes_version && now_ms - it->second.at_ms < kWarmMs;
}

void WarmTargets::reached(const Target& target, std::uint64_t now_ms, std::uint32_t routes_version) {
  std::string k = key(target);
  if (auto it = targets_.find(k); it != targets_.end()) {
    it->second = Seen{now_ms, routes_version};
    return;
  }
  if (targets_.size() >= kMaxTargets) make_room(now_ms);
  targets_.emplace(std::move(k), Seen{now_ms, routes_version});
}

void WarmTargets::forget(const Target& target) { targets_.erase(key(target)); }

void WarmTargets::make_room(std::uint64_t now_ms) {
  std::erase_if(targets_, [now_ms](const auto& t) { return now_ms - t.second.at_ms >= kWarmMs; });
  if (targets_.size() < kMaxTargets) return;
  // Every one was seen within ten minutes (over 4096 targets: a scan, or a crawler): the older half
  // goes, so this sweep runs once per kMaxTargets / 2 new targets, not on each.
  std::vector<std::uint64_t> ages;
  ages.reserve(targets_.size());
  for (const auto& t : targets_) ages.push_back(t.second.at_ms);
  auto middle = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
  std::nth_element(ages.begin(), middle, ages.end());
  const std::uint64_t cut = *middle;
  std::erase_if(targets_, [cut](const auto& t) { return t.second.at_ms < cut; });
  if (targets_.size() >= kMaxTargets) targets_.erase(targets_.begin());  // all seen in the same ms
}

}  // namespace ferry::agent
