#include "common/uv/unsent_budget.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <linux/tcp.h>  // the kernel's tcp_info: glibc's copy stops before tcpi_pacing_rate
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

std::optional<std::uint64_t> pacing_rate(int fd) noexcept {
#if defined(__linux__)
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(tcp_info, tcpi_pacing_rate) + sizeof info.tcpi_pacing_rate)
    return std::nullopt;  // kernel < 4.0
  return info.tcpi_pacing_rate;
#else
  (void)fd;
  return std::nullopt;
#endif
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
