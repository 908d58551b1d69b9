#include "common/uv/unsent_budget.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <linux/tcp.h>  // TCP_NOTSENT_LOWAT
#else
#include <netinet/tcp.h>
#endif

#include <algorithm>
#include <cstddef>

namespace ferry::uv {

std::size_t unsent_budget(std::uint64_t rate) noexcept {
  // Divide first: a rate of "unlimited" (~0) must not overflow.
  const std::uint64_t bytes = rate / 1'000'000 * kUnsentBudgetMicros;
  return static_cast<std::size_t>(std::clamp<std::uint64_t>(bytes, kMinUnsentBudget, kMaxUnsentBudget));
}

void set_unsent_limit(int fd, std::size_t bytes) noexcept {
#ifdef TCP_NOTSENT_LOWAT
  const int v = static_cast<int>(bytes);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
#else
  (void)fd, (void)bytes;
#endif
}

}  // namespace ferry::uv
