// Small socket helpers for bench_load: IPv4 endpoints, an owning descriptor, and blocking send/recv
// with the socket's timeouts turned into error text.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace ferry::bench {

// "1.2.3.4:80" only: the benchmark runs on loopback and in its own IPv4 namespaces.
inline std::optional<sockaddr_in> parse_endpoint(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1) return std::nullopt;
  char* end = nullptr;
  const unsigned long port = std::strtoul(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port > 65535 || colon + 1 == s.size()) return std::nullopt;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

inline std::string format_ip(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return ip;
}

inline std::string format_endpoint(const sockaddr_in& a) {
  return format_ip(a) + ":" + std::to_string(ntohs(a.sin_port));
}

inline void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Owns one descriptor; moving transfers it.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  // Gives the descriptor up to the caller, who closes it.
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

inline std::string errno_text(const char* what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return std::string(what) + ": timed out";
  return std::string(what) + ": " + std::strerror(errno);
}

// Empty on success, else what went wrong.
inline std::string send_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_text("send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

inline std::string recv_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r == 0) return "recv: closed by the peer";
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_text("recv");
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return {};
}

}  // namespace ferry::bench
