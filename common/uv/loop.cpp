#include "common/uv/loop.hpp"

#include <cassert>
#include <charconv>
#include <cstdlib>

namespace ferry::uv {

Loop::Loop() {
  if (uv_loop_init(&loop_) != 0) std::abort();  // only fails when the process is out of fds/memory
  LoopContext::attach(&loop_, context_);
}

Loop::~Loop() {
  if (!closed_) {
    [[maybe_unused]] const int r = close();
    assert(r == 0 && "a libuv handle outlived its loop");
  }
}

int Loop::close() {
  if (closed_) return 0;
  uv_run(&loop_, UV_RUN_NOWAIT);  // run pending close callbacks
  const int r = uv_loop_close(&loop_);
  closed_ = r == 0;
  return r;
}

Result<sockaddr_storage> parse_socket_address(const std::string& text) {
  sockaddr_storage ss{};
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail(Errc::Malformed, "an IPv6 address must look like [::1]:7443");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail(Errc::Malformed, "an address needs a port: HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535 || port.empty())
    return fail(Errc::Malformed, "the port must be a number from 0 to 65535");
  if (uv_ip4_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in*>(&ss)) == 0) return ss;
  if (uv_ip6_addr(host.c_str(), static_cast<int>(p), reinterpret_cast<sockaddr_in6*>(&ss)) == 0) return ss;
  return fail(Errc::Malformed, "not an IPv4 or IPv6 address");
}

std::string format_socket_address(const sockaddr* sa) {
  char host[64] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    uv_ip4_name(in, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    uv_ip6_name(in6, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

}  // namespace ferry::uv
