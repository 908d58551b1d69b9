// What a datagram from the kernel's routing socket (rtnetlink, NETLINK_ROUTE; man 7 rtnetlink) says
// changed, sans-I/O: the agent listens for address and route changes to notice a new network at once
// (agent/network_watch.hpp) instead of after the link's dead-peer time.
//
//   datagram   nlmsghdr message, each padded to 4 bytes, one after another
//   nlmsghdr   len u32 | type u16 | flags u16 | seq u32 | pid u32      (host byte order)
//   RTM_NEWADDR / RTM_DELADDR (20, 21)    ifaddrmsg: family u8 | prefixlen u8 | flags u8 | scope u8 |
//                                         index u32, then rtattrs (len u16 | type u16 | value, padded)
//   RTM_NEWROUTE / RTM_DELROUTE (24, 25)  rtmsg: family u8 | dst_len u8 | src_len u8 | tos u8 |
//                                         table u8 | protocol u8 | scope u8 | type u8 | flags u32
//
// Only changes that can move a connection count: addresses of global or site scope (not loopback's
// host scope, not the link-local ones IPv6 adds and drops on its own), and routes of the main table
// (the local table follows the addresses). A default route is one with dst_len 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/codec/byte_reader.hpp"
#include "common/result.hpp"

namespace ferry::netlink {

// Linux's numbers (linux/rtnetlink.h, linux/socket.h), written out so the decoder and its tests build
// on any system; only a Linux kernel sends these messages.
inline constexpr std::uint16_t kNewAddr = 20, kDelAddr = 21, kNewRoute = 24, kDelRoute = 25, kDone = 3;
inline constexpr std::uint16_t kAttrAddress = 1, kAttrLocal = 2;  // IFA_ADDRESS, IFA_LOCAL
inline constexpr std::uint8_t kScopeUniverse = 0, kScopeLink = 253, kScopeHost = 254, kScopeNowhere = 255;
inline constexpr std::uint8_t kTableMain = 254, kTableLocal = 255;
inline constexpr int kFamilyInet = 2, kFamilyInet6 = 10;  // AF_INET, AF_INET6 on Linux

struct RouteEvent {
  enum class Kind { AddressAdded, AddressRemoved, DefaultRouteAdded, DefaultRouteRemoved, RouteChanged };
  Kind kind;
  int family = 0;  // kFamilyInet or kFamilyInet6
  Bytes address;   // the address (4 or 16 bytes) where the message names one
};

// The events of one datagram, in order. A malformed message (a length that runs past the datagram or
// below its header) ends the walk with an error; the events before it are lost with it.
Result<std::vector<RouteEvent>> decode_route_events(ByteSpan datagram);

// "address 192.0.2.7 added", "default route removed (IPv6)", for the log.
std::string describe(const RouteEvent& e);

}  // namespace ferry::netlink
