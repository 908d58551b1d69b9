#include "agent/link_choice.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

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
  // The bytes moved since the last sample are taken to have moved at a steady rate through it, so a
  // transfer still running after a long gap between samples counts as what it moves per half-life.
  const double decay = std::exp2(-elapsed / kHalfLifeMs);
  const double weight = elapsed > 0 ? (1 - decay) * kHalfLifeMs / (elapsed * std::numbers::ln2) : 1.0;
  value_ = value_ * decay + moved * weight;
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
    if (!best || l.streams < links[*best].streams ||
        (l.streams == links[*best].streams && l.last_chosen < links[*best].last_chosen))
      best = i;
  }
  return best;
}

}  // namespace ferry::agent
