#include "agent/local_page.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

std::string base64(const std::string& s) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()), s.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();
  return out;
}

// A blocking TCP socket that neither leaks into children nor raises SIGPIPE when the agent closes
// first. Linux has SOCK_CLOEXEC and MSG_NOSIGNAL; macOS has neither, but has SO_NOSIGPIPE, which
// covers every send on the socket.
int open_socket(int family) {
#ifdef SOCK_CLOEXEC
  return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
  const int fd = ::socket(family, SOCK_STREAM, 0);
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
  const int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return fd;
#endif
}

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // SO_NOSIGPIPE was set in open_socket()
#endif

// Where to reach a listener: its own address, or loopback for a wildcard one (0.0.0.0, [::]), whose
// accepted connections have a real local address that the Host field must name.
void to_reachable(sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
}

}  // namespace

LocalPage fetch_local_page(const config::AgentConfig& cfg, const std::string& listen,
                           const std::string& path) {
  LocalPage page;
  auto addr = uv::parse_socket_address(listen);
  if (!addr) return page;
  to_reachable(*addr);
  // The agent's local pages answer only a Host that names the address connected to (DNS rebinding).
  const std::string host = uv::format_socket_address(reinterpret_cast<const sockaddr*>(&*addr));
  const int fd = open_socket(addr->ss_family);
  const socklen_t len = addr->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    if (fd >= 0) ::close(fd);
    return page;
  }
  page.reached = true;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (cfg.auth) req += "Proxy-Authorization: Basic " + base64(cfg.username + ":" + cfg.password) + "\r\n";
  req += "\r\n";
  std::string resp;
  if (::send(fd, req.data(), req.size(), kSendFlags) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (resp.size() < 1024 * 1024 && ::poll(&p, 1, 3000) == 1) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      resp.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  page.status_line = resp.substr(0, resp.find('\r'));
  const auto body_at = resp.find("\r\n\r\n");
  if (page.ok() && body_at != std::string::npos) page.body = resp.substr(body_at + 4);
  return page;
}

}  // namespace ferry::agent
