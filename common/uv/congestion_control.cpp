#include "common/uv/congestion_control.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <linux/tcp.h>
#endif

#include <cstring>

namespace ferry::uv {

std::string choose_link_congestion_control(int fd) noexcept {
#if defined(__linux__) && defined(TCP_CONGESTION)
  for (const char* name : {"bbr", "cubic", "reno"}) {
    // EPERM when the system does not allow an unprivileged process this algorithm (BBR is often not
    // in net.ipv4.tcp_allowed_congestion_control), ENOENT when it is not built: try the next.
    if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, static_cast<socklen_t>(std::strlen(name))) == 0)
      break;
  }
  char now[16] = {};
  socklen_t len = sizeof now;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, now, &len) != 0) return {};
  return std::string(now, strnlen(now, len));
#else
  (void)fd;
  return {};
#endif
}

}  // namespace ferry::uv
