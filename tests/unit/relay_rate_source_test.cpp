// Which rate-limit bucket a new link's source counts against (relay/relay_server.cpp): the IPv4
// address, or the IPv6 /64, whatever the port and however the address is written.
#include <catch2/catch.hpp>

#include "relay/relay_server.hpp"

using ferry::relay::RelayServer;

TEST_CASE("relay rate limit: one bucket per IPv4 address and per IPv6 /64", "[relay]") {
  const auto key = [](const char* peer) { return RelayServer::rate_source(peer); };
  CHECK(key("192.0.2.1:1000") == key("192.0.2.1:2000"));
  CHECK(key("192.0.2.1:1000") != key("192.0.2.2:1000"));
  CHECK(key("[::ffff:192.0.2.1]:5") == key("192.0.2.1:6"));  // a dual-stack listener's view of IPv4
  // Every address of one /64 is one user, however the text is compressed.
  CHECK(key("[2001:db8::1:2:3:4]:1") == key("[2001:db8::5]:2"));
  CHECK(key("[2001:db8::1:2:3:4]:1") == key("[2001:db8:0:0:ffff::]:3"));
  CHECK(key("[2001:db8::5]:2") != key("[2001:db8:0:1::5]:2"));
  CHECK(key("[2001:db8::5]:2") != key("32.1.13.184:2"));  // 2001:0db8 as IPv4 bytes: another family
}
