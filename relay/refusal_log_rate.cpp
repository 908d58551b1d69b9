#include "relay/refusal_log_rate.hpp"

namespace ferry::relay {

RefusalLogRate::Verdict RefusalLogRate::note(std::uint64_t now_ms) {
  std::lock_guard lock(mutex_);
  Verdict v;
  const std::uint64_t minute = now_ms / 60'000;
  if (minute != minute_) {
    v.left_out = left_out_;
    minute_ = minute;
    lines_ = left_out_ = 0;
  }
  if (lines_ >= kPerMinute) {
    ++left_out_;
    return v;
  }
  ++lines_;
  v.log = true;
  return v;
}

}  // namespace ferry::relay
