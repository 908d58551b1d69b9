#include "common/uv/tcp_path.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <linux/tcp.h>  // the kernel's tcp_info: glibc's copy stops before tcpi_pacing_rate
#endif

#include <cstddef>

namespace ferry::uv {

std::optional<TcpPath> tcp_path(int fd) noexcept {
#if defined(__linux__)
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(tcp_info, tcpi_min_rtt) + sizeof info.tcpi_min_rtt) return std::nullopt;  // kernel < 4.6
  TcpPath p;
  p.pacing_rate = info.tcpi_pacing_rate;
  p.min_rtt = std::chrono::microseconds(info.tcpi_min_rtt == ~0u ? 0 : info.tcpi_min_rtt);
  return p;
#else
  (void)fd;
  return std::nullopt;
#endif
}

}  // namespace ferry::uv
