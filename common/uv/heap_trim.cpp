#include "common/uv/heap_trim.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ferry::uv {

void trim_heap() noexcept {
#if defined(__GLIBC__)
  // Relay workers are threads: one clock for all of them, so a thousand links going idle together
  // cost one walk of the heap, not a thousand.
  static std::atomic<std::int64_t> last_ms{-1'000'000};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  if (now - last < 1000 || !last_ms.compare_exchange_strong(last, now)) return;
  ::malloc_trim(0);
#endif
}

}  // namespace ferry::uv
