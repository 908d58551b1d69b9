// rtnetlink datagrams as the kernel writes them (host byte order), built field by field: which
// changes count, which are noise, and what a broken datagram gives.
#include "common/codec/netlink_route.hpp"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>

using namespace ferry;
using netlink::RouteEvent;

namespace {

template <class T>
void put(Bytes& b, T v) {
  const auto at = b.size();
  b.resize(at + sizeof v);
  std::memcpy(b.data() + at, &v, sizeof v);
}

void pad4(Bytes& b) {
  while (b.size() % 4) b.push_back(0);
}

// One nlmsghdr message around `body`, padded to 4 bytes.
Bytes message(std::uint16_t type, const Bytes& body) {
  Bytes m;
  put<std::uint32_t>(m, static_cast<std::uint32_t>(16 + body.size()));
  put<std::uint16_t>(m, type);
  put<std::uint16_t>(m, 0);  // flags
  put<std::uint32_t>(m, 0);  // seq
  put<std::uint32_t>(m, 0);  // pid
  m.insert(m.end(), body.begin(), body.end());
  pad4(m);
  return m;
}

Bytes attr(std::uint16_t type, const Bytes& value) {
  Bytes a;
  put<std::uint16_t>(a, static_cast<std::uint16_t>(4 + value.size()));
  put<std::uint16_t>(a, type);
  a.insert(a.end(), value.begin(), value.end());
  pad4(a);
  return a;
}

Bytes ifaddr(std::uint8_t family, std::uint8_t scope, const Bytes& attrs) {
  Bytes b{family, 24, 0, scope};
  put<std::uint32_t>(b, 2);  // interface index
  b.insert(b.end(), attrs.begin(), attrs.end());
  return b;
}

Bytes route_msg(std::uint8_t family, std::uint8_t dst_len, std::uint8_t table) {
  Bytes b{family, dst_len, 0, 0, table, 3, netlink::kScopeUniverse, 1};
  put<std::uint32_t>(b, 0);
  return b;
}

Bytes ipv4(const char* text) {
  Bytes a(4);
  REQUIRE(inet_pton(AF_INET, text, a.data()) == 1);
  return a;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

}  // namespace

TEST_CASE("a new global address is an event, with the interface's own address", "[netlink]") {
  const Bytes d = message(netlink::kNewAddr, ifaddr(netlink::kFamilyInet, netlink::kScopeUniverse,
                                                    cat({attr(netlink::kAttrAddress, ipv4("192.0.2.1")),
                                                         attr(netlink::kAttrLocal, ipv4("192.0.2.7"))})));
  auto e = netlink::decode_route_events(d);
  REQUIRE(e);
  REQUIRE(e->size() == 1);
  CHECK((*e)[0].kind == RouteEvent::Kind::AddressAdded);
  CHECK(netlink::describe((*e)[0]) == "address 192.0.2.7 added");
}

TEST_CASE("a removed address and default route changes are events; host, link and local-table noise is not",
          "[netlink]") {
  const Bytes d = cat({
      message(netlink::kNewAddr, ifaddr(netlink::kFamilyInet, netlink::kScopeHost,
                                        attr(netlink::kAttrAddress, ipv4("127.0.0.1")))),
      message(netlink::kNewAddr, ifaddr(netlink::kFamilyInet6, netlink::kScopeLink, {})),
      message(netlink::kDelAddr, ifaddr(netlink::kFamilyInet, netlink::kScopeUniverse,
                                        attr(netlink::kAttrAddress, ipv4("198.51.100.4")))),
      message(netlink::kNewRoute, route_msg(netlink::kFamilyInet, 24, netlink::kTableLocal)),
      message(netlink::kDelRoute, route_msg(netlink::kFamilyInet, 0, netlink::kTableMain)),
      message(netlink::kNewRoute, route_msg(netlink::kFamilyInet6, 0, netlink::kTableMain)),
      message(netlink::kNewRoute, route_msg(netlink::kFamilyInet, 16, netlink::kTableMain)),
      message(netlink::kDone, {0, 0, 0, 0}),
  });
  auto e = netlink::decode_route_events(d);
  REQUIRE(e);
  REQUIRE(e->size() == 4);
  CHECK(netlink::describe((*e)[0]) == "address 198.51.100.4 removed");
  CHECK(netlink::describe((*e)[1]) == "default route removed (IPv4)");
  CHECK(netlink::describe((*e)[2]) == "default route added (IPv6)");
  CHECK(netlink::describe((*e)[3]) == "routes changed (IPv4)");
}

TEST_CASE("a broken datagram is an error, never a read past its end", "[netlink]") {
  Bytes d = message(netlink::kNewAddr, ifaddr(netlink::kFamilyInet, netlink::kScopeUniverse,
                                              attr(netlink::kAttrLocal, ipv4("192.0.2.7"))));
  SECTION("cut inside the header") { CHECK_FALSE(netlink::decode_route_events(ByteSpan(d).first(10))); }
  SECTION("a length past the datagram") {
    d[0] = 0xff;
    CHECK_FALSE(netlink::decode_route_events(d));
  }
  SECTION("a length below the header") {
    std::uint32_t len = 8;
    std::memcpy(d.data(), &len, sizeof len);
    CHECK_FALSE(netlink::decode_route_events(d));
  }
  SECTION("a body too short for its header is no event") {
    auto e = netlink::decode_route_events(message(netlink::kNewRoute, {netlink::kFamilyInet, 0}));
    REQUIRE(e);
    CHECK(e->empty());
  }
  SECTION("an attribute whose length runs past the message ends the attributes") {
    Bytes bad = attr(netlink::kAttrLocal, ipv4("192.0.2.7"));
    bad[0] = 200;
    auto e = netlink::decode_route_events(
        message(netlink::kNewAddr, ifaddr(netlink::kFamilyInet, netlink::kScopeUniverse, bad)));
    REQUIRE(e);
    REQUIRE(e->size() == 1);
    CHECK(netlink::describe((*e)[0]) == "address IPv4 added");
  }
}
