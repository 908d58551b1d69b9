// Address blocks: a CIDR prefix ("10.0.0.0/8", "2001:db8::/32") and the named sets a rule may use.
//
// Named sets, and why each holds what it holds:
//   loopback     127.0.0.0/8, ::1/128        the relay host itself.
//   private      10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), fc00::/7 (RFC 4193 unique local).
//   link-local   169.254.0.0/16, fe80::/10   includes 169.254.169.254, the cloud metadata service.
//   multicast    224.0.0.0/4, ff00::/8, and 255.255.255.255/32: limited broadcast is not multicast, but it
//                is the same kind of "one address reaches many hosts" target, and a TCP dial to either is
//                never legitimate, so one name covers both.
//   unspecified  0.0.0.0/8, ::/128          "this host" (RFC 1122 §3.2.1.3); connecting to 0.0.0.0 reaches
//                                            the local host on Linux, so it must be denied like loopback.
// Shared address space (100.64.0.0/10) and documentation ranges are deliberately not in any set.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/policy/address.hpp"
#include "common/result.hpp"

namespace ferry::policy {

struct Cidr {
  Address base;             // host bits are zero
  std::uint8_t prefix = 0;  // 0..32 for IPv4, 0..128 for IPv6

  // Families must match: an IPv4 block never contains an IPv6 address. Callers pass normalised addresses.
  bool contains(const Address& a) const noexcept;
  // "10.0.0.0/8", "2001:db8::/32" (no brackets).
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Parses "ADDRESS/LEN". LEN is decimal without leading zeros; host bits must be zero ("10.0.0.1/8" is an
// error, because the writer probably meant something else). A block inside ::ffff:0:0/96 becomes the
// IPv4 block it maps, since addresses are normalised before matching and the IPv6 form could never match.
// A block in the IPv4-compatible range ::/96 stays IPv6; it can then match only :: and ::1, because every
// other address there normalises to IPv4 (address.hpp). Use the IPv4 block to cover those.
// Errors carry Errc::Config and a static message.
Result<Cidr> parse_cidr(std::string_view text);

enum class NamedSet : std::uint8_t { Loopback, Private, LinkLocal, Multicast, Unspecified, Self };

// "loopback", "private", "link-local", "multicast", "unspecified", "self" (this host's own interface
// addresses, local_addresses.hpp: no fixed blocks); case-insensitive.
std::optional<NamedSet> parse_named_set(std::string_view text);
const char* named_set_name(NamedSet s) noexcept;
std::span<const Cidr> named_set_blocks(NamedSet s);
bool named_set_contains(NamedSet s, const Address& a);

}  // namespace ferry::policy
