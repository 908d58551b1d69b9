#include "common/codec/target.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace ferry {

Target Target::ipv4(std::array<std::uint8_t, 4> a, std::uint16_t port) {
  Target t;
  t.kind = Kind::Ipv4;
  std::memcpy(t.ip.data(), a.data(), 4);
  t.port = port;
  return t;
}

Target Target::ipv6(std::array<std::uint8_t, 16> a, std::uint16_t port) {
  Target t;
  t.kind = Kind::Ipv6;
  t.ip = a;
  t.port = port;
  return t;
}

Target Target::host(std::string name, std::uint16_t port) {
  Target t;
  t.kind = Kind::Name;
  t.name = std::move(name);
  t.port = port;
  return t;
}

std::string Target::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  std::string host;
  switch (kind) {
    case Kind::Ipv4:
      inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
      host = buf;
      break;
    case Kind::Ipv6:
      inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
      host = std::string("[") + buf + "]";
      break;
    case Kind::Name:
      host = name;
      break;
  }
  return host + ":" + std::to_string(port);
}

}  // namespace ferry
