#include "common/policy/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ferry::policy {
namespace {

// Longest IPv6 text inet_pton can accept: eight groups of four hex digits and seven colons, or six groups
// and an embedded dotted quad (INET6_ADDRSTRLEN counts the NUL). Longer input is rejected before copying.
constexpr std::size_t kMaxV6TextBytes = INET6_ADDRSTRLEN - 1;

bool all_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

std::optional<std::uint8_t> parse_octet(std::string_view part) {
  if (part.empty() || part.size() > 3) return std::nullopt;
  if (part.size() > 1 && part[0] == '0') return std::nullopt;  // "010" is octal to inet_aton: refuse
  unsigned v = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
  if (ec != std::errc{} || end != part.data() + part.size() || v > 255) return std::nullopt;
  return static_cast<std::uint8_t>(v);
}

std::optional<Address> parse_v4(std::string_view text) {
  std::array<std::uint8_t, 4> a{};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto dot = text.find('.');
    if ((dot == std::string_view::npos) != (i == 3)) return std::nullopt;  // exactly three dots
    const auto octet = parse_octet(text.substr(0, dot));
    if (!octet) return std::nullopt;
    a[i] = *octet;
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  }
  return Address::v4(a);
}

std::optional<Address> parse_v6(std::string_view text) {
  if (text.size() > kMaxV6TextBytes) return std::nullopt;
  // inet_pton needs a NUL-terminated string; it also refuses zone suffixes ("%eth0"), which is what we want.
  char buf[kMaxV6TextBytes + 1] = {};
  std::memcpy(buf, text.data(), text.size());
  if (std::memchr(buf, '\0', text.size()) != nullptr) return std::nullopt;  // an embedded NUL
  std::array<std::uint8_t, 16> a{};
  if (inet_pton(AF_INET6, buf, a.data()) != 1) return std::nullopt;
  return Address::v6(a);
}

}  // namespace

Address Address::v4(std::array<std::uint8_t, 4> a) {
  Address r;
  r.family = Family::V4;
  std::copy(a.begin(), a.end(), r.bytes.begin());
  return r;
}

Address Address::v6(std::array<std::uint8_t, 16> a) {
  Address r;
  r.family = Family::V6;
  r.bytes = a;
  return r;
}

std::optional<Address> Address::from_sockaddr(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);  // copy rather than cast: the caller's storage may be unaligned
    std::array<std::uint8_t, 4> a{};
    std::memcpy(a.data(), &in.sin_addr, 4);
    return v4(a);
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    std::array<std::uint8_t, 16> a{};
    std::memcpy(a.data(), &in6.sin6_addr, 16);
    return v6(a);
  }
  return std::nullopt;
}

std::optional<Address> Address::from_target(const Target& t) {
  switch (t.kind) {
    case Target::Kind::Ipv4:
      return v4({t.ip[0], t.ip[1], t.ip[2], t.ip[3]});
    case Target::Kind::Ipv6:
      return v6(t.ip);
    case Target::Kind::Name:
      return std::nullopt;
  }
  return std::nullopt;
}

Address Address::normalised() const {
  if (is_v4()) return *this;
  const bool mapped = all_zero(bytes.data(), 10) && bytes[10] == 0xff && bytes[11] == 0xff;
  const bool compat = all_zero(bytes.data(), 12) && !(all_zero(bytes.data() + 12, 3) && bytes[15] <= 1);
  if (!mapped && !compat) return *this;
  return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
}

std::vector<Address> Address::embedded_ipv4s() const {
  if (is_v4()) return {};
  const auto& b = bytes;
  static constexpr std::uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b.data(), kNat64, sizeof kNat64) == 0) return {v4({b[12], b[13], b[14], b[15]})};
  if (b[0] == 0x20 && b[1] == 0x02) return {v4({b[2], b[3], b[4], b[5]})};
  static constexpr std::uint8_t kLocalUse[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
  if (std::memcmp(b.data(), kLocalUse, sizeof kLocalUse) != 0) return {};
  // RFC 6052 2.2: bits 64-71 (byte 8) are never part of the IPv4 address. A placement that reads as
  // 0.0.0.0/8 ("this network", which no NAT64 delivers to) is the zero padding of another placement,
  // and is skipped: 64:ff9b:1::8.8.8.8 is 8.8.8.8, not also 0.0.0.8.
  std::vector<Address> out;
  for (const Address& a : {v4({b[6], b[7], b[9], b[10]}),      // a /48 prefix
                           v4({b[7], b[9], b[10], b[11]}),     // a /56 prefix
                           v4({b[9], b[10], b[11], b[12]}),    // a /64 prefix
                           v4({b[12], b[13], b[14], b[15]})})  // a /96 prefix
    if (a.bytes[0] != 0 && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  return out;
}

socklen_t Address::to_sockaddr(std::uint16_t port, sockaddr_storage& out) const {
  out = sockaddr_storage{};
  if (is_v4()) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, bytes.data(), 4);
    std::memcpy(&out, &in, sizeof in);
    return sizeof in;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, bytes.data(), 16);
  std::memcpy(&out, &in6, sizeof in6);
  return sizeof in6;
}

Target Address::to_target(std::uint16_t port) const {
  if (is_v4()) return Target::ipv4({bytes[0], bytes[1], bytes[2], bytes[3]}, port);
  return Target::ipv6(bytes, port);
}

std::string Address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Address> parse_address(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return parse_v6(text);
  return parse_v4(text);
}

}  // namespace ferry::policy
