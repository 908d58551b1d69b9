#include "common/net/lookup_slots.hpp"

#include <algorithm>

#include "common/net/dialer.hpp"

namespace ferry::net {

bool LookupSlots::take(Dialer* d) {
  if (used_ < limit_) {
    ++used_;
    return true;
  }
  waiting_.push_back(d);
  return false;
}

void LookupSlots::give() {
  --used_;
  while (used_ < limit_ && !waiting_.empty()) {
    Dialer* next = waiting_.front();
    waiting_.pop_front();
    ++used_;
    next->start_lookup();  // may finish (and destroy) that Dialer, or give its slot back unused
  }
}

void LookupSlots::forget(Dialer* d) { std::erase(waiting_, d); }

}  // namespace ferry::net
