#include "common/codec/netlink_route.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace ferry::netlink {
namespace {

constexpr std::size_t kHeader = 16;  // sizeof(nlmsghdr)
constexpr std::size_t kIfaddr = 8;   // sizeof(ifaddrmsg)
constexpr std::size_t kRtmsg = 12;   // sizeof(rtmsg)
constexpr std::size_t kRtattr = 4;   // sizeof(rtattr)

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Host byte order, as the kernel writes it.
std::uint16_t host16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
std::uint32_t host32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// kAttrLocal is the interface's own address on point-to-point links, where kAttrAddress is the peer's;
// elsewhere both are the same. The local one is what a connection is bound to.
Bytes address_of(ByteSpan attrs, int family) {
  const std::size_t want = family == kFamilyInet ? 4 : family == kFamilyInet6 ? 16 : 0;
  Bytes local, address;
  while (attrs.size() >= kRtattr) {
    const std::size_t len = host16(attrs.data());
    const std::uint16_t type = host16(attrs.data() + 2);
    if (len < kRtattr || len > attrs.size()) break;  // a broken attribute ends the list
    const ByteSpan value = attrs.subspan(kRtattr, len - kRtattr);
    if (value.size() == want && type == kAttrLocal) local.assign(value.begin(), value.end());
    if (value.size() == want && type == kAttrAddress) address.assign(value.begin(), value.end());
    attrs = attrs.subspan(std::min(align4(len), attrs.size()));
  }
  return local.empty() ? address : local;
}

std::optional<RouteEvent> address_event(std::uint16_t type, ByteSpan body) {
  if (body.size() < kIfaddr) return std::nullopt;
  const int family = body[0];
  const std::uint8_t scope = body[3];
  if (scope == kScopeHost || scope == kScopeLink || scope == kScopeNowhere) return std::nullopt;
  return RouteEvent{type == kNewAddr ? RouteEvent::Kind::AddressAdded : RouteEvent::Kind::AddressRemoved,
                    family, address_of(body.subspan(kIfaddr), family)};
}

std::optional<RouteEvent> route_event(std::uint16_t type, ByteSpan body) {
  if (body.size() < kRtmsg) return std::nullopt;
  const int family = body[0];
  const std::uint8_t dst_len = body[1];
  const std::uint8_t table = body[4];
  if (table != kTableMain) return std::nullopt;
  const bool added = type == kNewRoute;
  if (dst_len == 0)
    return RouteEvent{
        added ? RouteEvent::Kind::DefaultRouteAdded : RouteEvent::Kind::DefaultRouteRemoved, family, {}};
  return RouteEvent{RouteEvent::Kind::RouteChanged, family, {}};
}

}  // namespace

Result<std::vector<RouteEvent>> decode_route_events(ByteSpan datagram) {
  std::vector<RouteEvent> events;
  while (!datagram.empty()) {
    if (datagram.size() < kHeader) return fail(Errc::Malformed, "a netlink message shorter than its header");
    const std::size_t len = host32(datagram.data());
    const std::uint16_t type = host16(datagram.data() + 4);
    if (len < kHeader || len > datagram.size())
      return fail(Errc::Malformed, "a netlink message length outside its datagram");
    const ByteSpan body = datagram.subspan(kHeader, len - kHeader);
    std::optional<RouteEvent> e;
    if (type == kNewAddr || type == kDelAddr) e = address_event(type, body);
    if (type == kNewRoute || type == kDelRoute) e = route_event(type, body);
    if (e) events.push_back(std::move(*e));
    datagram = datagram.subspan(std::min(align4(len), datagram.size()));
  }
  return events;
}

std::string describe(const RouteEvent& e) {
  const char* family = e.family == kFamilyInet ? "IPv4" : e.family == kFamilyInet6 ? "IPv6" : "?";
  std::string address;
  if (!e.address.empty()) {
    char text[INET6_ADDRSTRLEN] = {};
    const int host_family = e.address.size() == 4 ? AF_INET : AF_INET6;  // this system's numbers
    if (inet_ntop(host_family, e.address.data(), text, sizeof text)) address = text;
  }
  switch (e.kind) {
    case RouteEvent::Kind::AddressAdded:
      return "address " + (address.empty() ? std::string(family) : address) + " added";
    case RouteEvent::Kind::AddressRemoved:
      return "address " + (address.empty() ? std::string(family) : address) + " removed";
    case RouteEvent::Kind::DefaultRouteAdded:
      return std::string("default route added (") + family + ")";
    case RouteEvent::Kind::DefaultRouteRemoved:
      return std::string("default route removed (") + family + ")";
    case RouteEvent::Kind::RouteChanged:
      return std::string("routes changed (") + family + ")";
  }
  return "?";
}

}  // namespace ferry::netlink
