// An IP address as the policy sees it: a family and 16 bytes, with no port and no scope.
//
// Policy decisions are made on *normalised* addresses, because the same host can be written in several
// ways and a rule must not be dodged by choosing another spelling (the classic SSRF trick):
//
//   ::ffff:a.b.c.d   IPv4-mapped (RFC 4291 §2.5.5.2). A dual-stack socket that connects to it reaches the
//                    IPv4 host a.b.c.d, so it is treated exactly as a.b.c.d: ::ffff:127.0.0.1 is loopback.
//   ::a.b.c.d        IPv4-compatible (RFC 4291 §2.5.5.1, deprecated). Linux does not route it natively, but
//                    an automatic tunnel (sit) delivers it to a.b.c.d, so it too gets the IPv4 rules. The two
//                    values that are not IPv4 hosts stay IPv6: :: (unspecified) and ::1 (loopback).
//
// Two more embeddings reach an IPv4 host through a gateway that knows nothing of our policy:
//
//   64:ff9b::a.b.c.d   NAT64, the well-known prefix (RFC 6052). With DNS64 an allowed name's AAAA record
//                      points here even when its A record is denied.
//   64:ff9b:1::/48     NAT64's local-use prefix (RFC 8215). An operator picks a prefix of 48 to 96 bits
//                      inside it, and each length places the IPv4 address elsewhere (RFC 6052 2.2), which
//                      the address alone does not tell: every placement is checked.
//   2002:AABB:CCDD::/48  6to4 (RFC 3056): the relay router delivers to AA.BB.CC.DD.
//
// Such an address stays IPv6 (it is what gets dialled), but check_address also checks the IPv4 host
// it embeds (embedded_ipv4s), and any one denying denies. Teredo (2001::/32, obfuscated) and
// network-specific NAT64 prefixes are not recognised.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec/target.hpp"

namespace ferry::policy {

struct Address {
  enum class Family : std::uint8_t { V4, V6 };
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4; the rest stay zero so == works

  static Address v4(std::array<std::uint8_t, 4> a);
  static Address v6(std::array<std::uint8_t, 16> a);
  // AF_INET and AF_INET6 only (what getaddrinfo and uv_getaddrinfo return); nullopt for any other family.
  static std::optional<Address> from_sockaddr(const sockaddr* sa);
  // Target::Kind::Ipv4 and Ipv6; nullopt for a name, which the relay must resolve first.
  static std::optional<Address> from_target(const Target& t);

  bool is_v4() const noexcept { return family == Family::V4; }
  // Bits in the address: 32 or 128.
  unsigned bit_count() const noexcept { return is_v4() ? 32 : 128; }
  // The IPv4 address behind an IPv4-mapped or IPv4-compatible IPv6 address (see above); else *this.
  Address normalised() const;
  // The IPv4 hosts a NAT64 (64:ff9b::/96, 64:ff9b:1::/48) or 6to4 (2002::/16) address may reach:
  // one, or for the local-use prefix one per RFC 6052 prefix length; none for any other address.
  std::vector<Address> embedded_ipv4s() const;
  // Fills `out` for connect(2) or uv_tcp_connect and returns the length used.
  socklen_t to_sockaddr(std::uint16_t port, sockaddr_storage& out) const;
  Target to_target(std::uint16_t port) const;
  // Dotted quad, or RFC 5952 text for IPv6 (no brackets).
  std::string to_string() const;

  friend bool operator==(const Address&, const Address&) = default;
};

// Parses a dotted quad ("192.0.2.1": four decimal parts 0..255, no leading zeros, no shorthand such as
// "127.1" or "0x7f.1", which inet_aton would accept and turn into a different address) or IPv6 text
// without brackets or zone ("2001:db8::1", "::ffff:192.0.2.1"). The result is not normalised.
std::optional<Address> parse_address(std::string_view text);

}  // namespace ferry::policy
