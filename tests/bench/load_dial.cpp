// Reaching the target: directly, or through a SOCKS5 (RFC 1928, no authentication) or HTTP CONNECT
// proxy. The handshakes are what curl sends: greeting, then request, each after the previous reply.
#include <sys/time.h>

#include <cstdio>
#include <vector>

#include "tests/bench/load_client.hpp"

namespace ferry::bench {
namespace {

std::string socks5_handshake(int fd, const ClientOptions& o) {
  const std::uint8_t greeting[] = {5, 1, 0};
  if (auto e = send_all(fd, greeting, sizeof greeting); !e.empty()) return "socks5 greeting: " + e;
  std::uint8_t method[2];
  if (auto e = recv_exact(fd, method, 2); !e.empty()) return "socks5 method: " + e;
  if (method[0] != 5 || method[1] != 0) return "socks5: no acceptable method";

  std::vector<std::uint8_t> req = {5, 1, 0};
  if (o.proxy.kind == Proxy::Kind::Socks5h) {
    const std::string name = o.target_name.empty() ? format_ip(o.target) : o.target_name;
    req.push_back(3);
    req.push_back(static_cast<std::uint8_t>(name.size()));
    req.insert(req.end(), name.begin(), name.end());
  } else {
    req.push_back(1);
    const auto* ip = reinterpret_cast<const std::uint8_t*>(&o.target.sin_addr);
    req.insert(req.end(), ip, ip + 4);
  }
  const auto* port = reinterpret_cast<const std::uint8_t*>(&o.target.sin_port);
  req.insert(req.end(), port, port + 2);
  if (auto e = send_all(fd, req.data(), req.size()); !e.empty()) return "socks5 request: " + e;

  std::uint8_t head[5];  // VER REP RSV ATYP and the first address byte
  if (auto e = recv_exact(fd, head, sizeof head); !e.empty()) return "socks5 reply: " + e;
  if (head[0] != 5) return "socks5 reply: bad version";
  if (head[1] != 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "socks5 reply 0x%02x", head[1]);
    return buf;
  }
  std::size_t rest = 0;  // what follows the first address byte
  switch (head[3]) {
    case 1:
      rest = 3 + 2;
      break;
    case 4:
      rest = 15 + 2;
      break;
    case 3:
      rest = head[4] + 2u;
      break;
    default:
      return "socks5 reply: bad address type";
  }
  std::uint8_t tail[300];
  if (auto e = recv_exact(fd, tail, rest); !e.empty()) return "socks5 reply address: " + e;
  return {};
}

std::string http_connect(int fd, const ClientOptions& o) {
  const std::string authority = (o.target_name.empty() ? format_ip(o.target) : o.target_name) + ":" +
                                std::to_string(ntohs(o.target.sin_port));
  const std::string req = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  if (auto e = send_all(fd, req.data(), req.size()); !e.empty()) return "CONNECT: " + e;
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > 8192) return "CONNECT: response head too long";
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return "CONNECT: closed by the proxy";
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_text("CONNECT");
    }
    head.append(buf, static_cast<std::size_t>(n));
  }
  if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12 || head.compare(9, 3, "200") != 0)
    return "CONNECT: " + head.substr(0, head.find("\r\n"));
  // The target speaks only after the client's header, so nothing may follow the proxy's response.
  if (head.size() != head.find("\r\n\r\n") + 4) return "CONNECT: unexpected bytes after the response";
  return {};
}

}  // namespace

std::optional<Proxy> parse_proxy(const std::string& url) {
  Proxy p;
  if (url.empty() || url == "none") return p;
  const auto sep = url.find("://");
  if (sep == std::string::npos) return std::nullopt;
  const std::string scheme = url.substr(0, sep);
  if (scheme == "socks5")
    p.kind = Proxy::Kind::Socks5;
  else if (scheme == "socks5h")
    p.kind = Proxy::Kind::Socks5h;
  else if (scheme == "http")
    p.kind = Proxy::Kind::Http;
  else
    return std::nullopt;
  std::string rest = url.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto addr = parse_endpoint(rest);
  if (!addr) return std::nullopt;
  p.addr = *addr;
  return p;
}

Dialed dial(const ClientOptions& o) {
  Dialed d;
  d.fd = Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!d.fd) return d.error = errno_text("socket"), std::move(d);
  const int fd = d.fd.get();
  set_nodelay(fd);
  timeval tv{};
  tv.tv_sec = o.timeout_ms / 1000;
  tv.tv_usec = (o.timeout_ms % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // Linux applies it to connect() too
  const sockaddr_in& first = o.proxy.kind == Proxy::Kind::None ? o.target : o.proxy.addr;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&first), sizeof first) != 0) {
    d.error = errno_text("connect");
  } else if (o.proxy.kind == Proxy::Kind::Socks5 || o.proxy.kind == Proxy::Kind::Socks5h) {
    d.error = socks5_handshake(fd, o);
  } else if (o.proxy.kind == Proxy::Kind::Http) {
    d.error = http_connect(fd, o);
  }
  if (!d.error.empty()) d.fd.reset();
  return d;
}

}  // namespace ferry::bench
