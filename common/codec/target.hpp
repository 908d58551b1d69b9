// Where a stream should go: an IPv4 or IPv6 address, or a host name the relay resolves, plus a port.
// SOCKS5, SOCKS4a, HTTP and the link's OPEN frame all carry this same triple.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace ferry {

struct Target {
  enum class Kind : std::uint8_t { Ipv4, Ipv6, Name };
  Kind kind = Kind::Name;
  std::array<std::uint8_t, 16> ip{};  // first 4 bytes for IPv4
  std::string name;                   // Kind::Name only; 1..255 bytes
  std::uint16_t port = 0;

  static Target ipv4(std::array<std::uint8_t, 4> a, std::uint16_t port);
  static Target ipv6(std::array<std::uint8_t, 16> a, std::uint16_t port);
  static Target host(std::string name, std::uint16_t port);
  // "1.2.3.4:80", "[::1]:443", "example.com:22": for logs and error pages.
  std::string to_string() const;
  friend bool operator==(const Target&, const Target&) = default;
};

}  // namespace ferry
