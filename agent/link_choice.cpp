#include "agent/link_choice.hpp"

#include <algorithm>
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
  const double moved = static_cast<double>(total - std::min(total, total_));
  // The bytes moved since the last sample are taken to have moved half-way through it.
  value_ = value_ * std::exp2(-elapsed / kHalfLifeMs) + moved * std::exp2(-elapsed / (2 * kHalfLifeMs));
  total_ = std::max(total_, total);
  at_ms_ = std::max(at_ms_, now_ms);
}

std::optional<std::size_t> choose_link(std::span<const LinkLoad> links) {
  std::optional<double> lightest;
  for (const LinkLoad& l : links)
    if (l.up && (!lightest || l.recent < *lightest)) lightest = l.recent;
  if (!lightest) return std::nullopt;
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < links.size(); ++i) {
    const LinkLoad& l = links[i];
    if (!l.up || l.recent > *lightest + kBusyMarginBytes) continue;  // busier than the lightest
    if (!best || l.streams < links[*best].streams) best = i;
  }
  return best;
}

}  // namespace ferry::agent
