#include "common/codec/sniff.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("sniff tells the protocol from the first byte", "[sniff]") {
  CHECK(sniff::sniff(0x05) == sniff::Protocol::Socks5);
  CHECK(sniff::sniff(0x04) == sniff::Protocol::Socks4);
  CHECK(sniff::sniff('G') == sniff::Protocol::Http);
  CHECK(sniff::sniff('C') == sniff::Protocol::Http);   // CONNECT
  CHECK(sniff::sniff(0x16) == sniff::Protocol::Http);  // a TLS ClientHello: the HTTP parser says 400
  CHECK(sniff::sniff(0x00) == sniff::Protocol::Http);
  for (int b = 0; b < 256; ++b) {
    const auto p = sniff::sniff(static_cast<std::uint8_t>(b));
    CHECK((p == sniff::Protocol::Http) == (b != 4 && b != 5));
  }
  CHECK(std::string(sniff::protocol_name(sniff::Protocol::Socks4)) == "socks4");
}
