#include "agent/link_choice.hpp"

#include <cmath>

namespace ferry::agent {

void RecentBytes::update(std::uint64_t total, std::uint64_t now_ms) {
  if (!started_) {
    started_ = true;
    total_ = total;
    at_ms_ = now_ms;
    return;
  }
  const double elapsed = static_cast<double>(now_ms - std::min(now_ms, at_ms_));
  value_ = value_ * std::exp2(-elapsed / kHalfLifeMs) + static_cast<double>(total - std::min(total, total_));
  total_ = std::max(total_, total);
  at_ms_ = std::max(at_ms_, now_ms);
}

std::optional<std::size_t> choose_link(std::span<const LinkLoad> links) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < links.size(); ++i) {
    const LinkLoad& l = links[i];
    if (!l.up) continue;
    if (!best) {
      best = i;
      continue;
    }
    const LinkLoad& b = links[*best];
    const bool lighter = l.recent + kBusyMarginBytes < b.recent;
    const bool as_busy = std::abs(l.recent - b.recent) <= kBusyMarginBytes;
    if (lighter || (as_busy && l.streams < b.streams)) best = i;
  }
  return best;
}

}  // namespace ferry::agent
