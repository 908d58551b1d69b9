#include "relay/source_rate_limit.hpp"

#include <algorithm>

namespace ferry::relay {

bool SourceRateLimit::take(const std::string& source, std::uint64_t now_ms) {
  std::lock_guard lock(mutex_);
  // Another worker's clock may be a loop iteration ahead: time never runs backwards for a bucket.
  const auto since = [now_ms](std::uint64_t at) { return now_ms > at ? now_ms - at : 0; };
  if (buckets_.size() >= kMaxSources && since(last_sweep_ms_) >= 1000) {  // sweep at most once a second
    last_sweep_ms_ = now_ms;
    std::erase_if(buckets_, [&](const auto& kv) { return since(kv.second.at_ms) > 10'000; });
  }
  // Still full (a flood from many addresses): a new source takes some other source's place rather
  // than being refused, so an agent arriving from a new network is never locked out. The source
  // that lost its bucket starts afresh, with a full one, next time.
  if (buckets_.size() >= kMaxSources && !buckets_.contains(source)) buckets_.erase(buckets_.begin());
  Bucket& b = buckets_[source];
  if (b.at_ms != 0)
    b.tokens = std::min(kBurst, b.tokens + static_cast<double>(since(b.at_ms)) / 1000.0 * kPerSecond);
  b.at_ms = std::max(b.at_ms, now_ms);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

std::size_t SourceRateLimit::sources() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace ferry::relay
