#include "common/link/buffer_budget.hpp"

namespace ferry::link {

std::uint32_t BufferBudget::open_window(std::uint32_t full) const noexcept {
  const std::uint64_t a = available(), l = limit();
  if (a >= l / 2 + full) return full;
  if (a >= l / 8 + kSmallWindow) return kSmallWindow < full ? kSmallWindow : full;
  return 0;
}

std::uint64_t BufferBudget::growth_room() const noexcept {
  const std::uint64_t a = available(), half = limit() / 2;
  return a > half ? a - half : 0;
}

}  // namespace ferry::link
