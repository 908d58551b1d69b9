#include "agent/status_command.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

// The value of "key" in our own flat status JSON (strings unquoted), or "".
std::string field(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  auto v = at + key.size() + 3;
  if (json[v] == '"') {
    const auto end = json.find('"', v + 1);
    return json.substr(v + 1, end - v - 1);
  }
  const auto end = json.find_first_of(",}", v);
  return json.substr(v, end - v);
}

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

int status_command(const config::AgentConfig& cfg) {
  const std::string listen = cfg.http_listen ? *cfg.http_listen : *cfg.socks_listen;
  auto addr = uv::parse_socket_address(listen);
  if (!addr) return std::fprintf(stderr, "bad listen address %s\n", listen.c_str()), 1;
  to_reachable(*addr);
  // The agent's local pages answer only a Host that names the address connected to (DNS rebinding).
  const std::string host = uv::format_socket_address(reinterpret_cast<const sockaddr*>(&*addr));
  const int fd = open_socket(addr->ss_family);
  const socklen_t len = addr->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    std::fprintf(stderr, "the agent is not running (nothing answers on %s)\n", listen.c_str());
    if (fd >= 0) ::close(fd);
    return 1;
  }
  std::string req = "GET /status HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (cfg.auth) req += "Proxy-Authorization: Basic " + base64(cfg.username + ":" + cfg.password) + "\r\n";
  req += "\r\n";
  if (::send(fd, req.data(), req.size(), kSendFlags) != static_cast<ssize_t>(req.size()))
    return ::close(fd), 1;
  std::string resp;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (resp.size() < 65536 && ::poll(&p, 1, 3000) == 1) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body_at = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.1 200", 0) != 0 || body_at == std::string::npos) {
    std::fprintf(stderr, "the agent on %s did not answer /status: %s\n", listen.c_str(),
                 resp.substr(0, resp.find('\r')).c_str());
    return 1;
  }
  const std::string j = resp.substr(body_at + 4);
  const std::string agent = field(j, "agent");
  if (agent == "draining")
    std::printf("agent:           draining (open streams finish, new ones are refused; %s s left)\n",
                field(j, "drain_left_s").c_str());
  else if (!agent.empty())
    std::printf("agent:           %s\n", agent.c_str());
  std::printf("link:            %s\n", field(j, "link").c_str());
  std::printf("relay:           %s\n", field(j, "relay").c_str());
  std::size_t links = 0;
  for (auto at = j.find("{\"state\":"); at != std::string::npos; at = j.find("{\"state\":", at + 1)) ++links;
  if (links > 0) std::printf("links up:        %s of %zu\n", field(j, "links_up").c_str(), links);
  const std::string cipher = field(j, "cipher");
  std::printf("cipher:          %s\n", cipher == "null" ? "-" : cipher.c_str());
  const std::string rtt = field(j, "rtt_ms");
  std::printf("rtt:             %s\n", rtt == "null" ? "-" : (rtt + " ms").c_str());
  std::printf("open streams:    %s\n", field(j, "open_streams").c_str());
  std::printf("local clients:   %s\n", field(j, "clients").c_str());
  std::printf("bytes sent:      %s\n", field(j, "bytes_sent").c_str());
  std::printf("bytes received:  %s\n", field(j, "bytes_received").c_str());
  const std::string up = field(j, "connected_for_s");
  std::printf("connected for:   %s\n", up == "null" ? "-" : (up + " s").c_str());
  const std::string err = field(j, "last_error");
  std::printf("last error:      %s\n", err == "null" ? "-" : err.c_str());
  // Each link's session: resumes are the lost links its streams lived through (docs/protocol.md 4.13).
  std::size_t n = 0;
  for (auto at = j.find("{\"state\":"); at != std::string::npos; at = j.find("{\"state\":", at + 1)) {
    const std::string l = j.substr(at, j.find('}', at) - at + 1);
    const std::string session = field(l, "session"), reason = field(l, "last_resume_reason");
    std::string line = field(l, "state");
    if (field(l, "held") == "true") line += " (lost; its streams wait for a resume)";
    if (session != "null") line += ", session " + session;
    if (field(l, "resumable") == "false" && session != "null") line += " (not resumable)";
    line += ", " + field(l, "resumes") + " resumes";
    if (reason != "null") line += " (last: " + reason + ")";
    ++n;
    std::printf("link %zu:%*s%s\n", n, n < 10 ? 10 : 9, "", line.c_str());
  }
  return 0;
}

}  // namespace ferry::agent
