#include "agent/local_host.hpp"

#include "common/codec/http1_grammar.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

// ":8080" of "127.0.0.1:8080" or "[::1]:8080"; "" when `local` is no IP address.
std::string port_suffix(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? "" : address.substr(colon);
}

}  // namespace

bool host_names_listener(std::string_view host, const sockaddr* local) {
  const std::string address = uv::format_socket_address(local);
  const std::string port = port_suffix(address);
  if (port.empty() || host.size() <= port.size() || !host.ends_with(port)) return false;
  const std::string_view name = host.substr(0, host.size() - port.size());
  const std::string_view own = std::string_view(address).substr(0, address.size() - port.size());
  for (std::string_view loopback : {"127.0.0.1", "localhost", "[::1]"})
    if (http1::iequals(name, loopback)) return true;
  if (http1::iequals(name, own)) return true;
  // An IPv4 client of a dual-stack listener ([::]) connects to ::ffff:a.b.c.d and names a.b.c.d.
  constexpr std::string_view kMapped = "[::ffff:";
  return own.size() > kMapped.size() && http1::iequals(own.substr(0, kMapped.size()), kMapped) &&
         own.find('.') != std::string_view::npos &&
         http1::iequals(name, own.substr(kMapped.size(), own.size() - kMapped.size() - 1));
}

std::string listener_host_hint(const sockaddr* local) {
  const std::string port = port_suffix(uv::format_socket_address(local));
  return port.empty() ? "127.0.0.1:PORT or localhost:PORT" : "127.0.0.1" + port + " or localhost" + port;
}

}  // namespace ferry::agent
