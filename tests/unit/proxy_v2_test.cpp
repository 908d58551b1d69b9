// The PROXY protocol v2 header (common/codec/proxy_v2.hpp) from byte vectors written out from the
// specification (HAProxy's proxy-protocol.txt, 2.2), each fed whole, byte by byte and with the
// agent's first bytes behind it.
#include "common/codec/proxy_v2.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/test_util.hpp"

using namespace ferry;

namespace {

Bytes hex(const char* text) {
  Bytes out;
  for (const char* p = text; p[0] && p[1];) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(p, 2), nullptr, 16)));
    p += 2;
  }
  return out;
}

const char* kSig = "0D0A0D0A000D0A515549540A ";

}  // namespace

TEST_CASE("PROXY v2: TCP over IPv4, whole, split anywhere, and with the link's bytes behind it",
          "[proxy_v2]") {
  // PROXY, AF_INET STREAM, 12 bytes: 192.0.2.7:51000 -> 198.51.100.1:7443.
  const Bytes header = hex((std::string(kSig) + "21 11 000C C0000207 C6336401 C738 1D13").c_str());
  REQUIRE(header.size() == 28);
  for (std::size_t cut = 0; cut < header.size(); ++cut) {
    INFO(cut);
    auto d = proxy_v2::decode(ByteSpan(header).first(cut));
    REQUIRE(d);
    CHECK_FALSE(d->msg);  // a strict prefix: need more, never a guess
  }
  Bytes with_link = header;
  with_link.insert(with_link.end(), {0x00, 0x01, 0x02});  // the agent's message 1 begins
  auto d = proxy_v2::decode(with_link);
  REQUIRE(d);
  REQUIRE(d->msg);
  CHECK(d->used == 28);  // exactly the header: the rest is the link's
  CHECK_FALSE(d->msg->local);
  CHECK(d->msg->source.to_string() == "192.0.2.7:51000");
  CHECK(d->msg->destination.to_string() == "198.51.100.1:7443");
  CHECK(proxy_v2::encode(*d->msg) == header);
}

TEST_CASE("PROXY v2: TCP over IPv6, TLVs skipped, LOCAL for health checks", "[proxy_v2]") {
  // PROXY, AF_INET6 STREAM, 36 bytes of addresses and a 7-byte TLV (type 0x04 NOOP, length 4).
  const Bytes v6 =
      hex((std::string(kSig) + "21 21 002B 20010DB8000000000000000000000007 20010DB8000000000000000000000001 "
                               "C738 1D13 04 0004 DEADBEEF")
              .c_str());
  auto d = proxy_v2::decode(v6);
  REQUIRE(d);
  REQUIRE(d->msg);
  CHECK(d->used == v6.size());
  CHECK(d->msg->source.to_string() == "[2001:db8::7]:51000");
  CHECK(d->msg->destination.to_string() == "[2001:db8::1]:7443");

  // LOCAL, UNSPEC: HAProxy's own health check. Any address block it carries is ignored.
  for (const char* local : {"20 00 0000", "20 11 000C C0000207 C6336401 C738 1D13"}) {
    INFO(local);
    const Bytes bytes = hex((std::string(kSig) + local).c_str());
    auto l = proxy_v2::decode(bytes);
    REQUIRE(l);
    REQUIRE(l->msg);
    CHECK(l->msg->local);
    CHECK(l->used == bytes.size());
  }
  CHECK(proxy_v2::encode(proxy_v2::Header{true, {}, {}}) == hex((std::string(kSig) + "20 00 0000").c_str()));
}

TEST_CASE("PROXY v2: what a link cannot come with is refused with the reason", "[proxy_v2]") {
  struct Case {
    std::string bytes;
    Errc code;
    const char* what;
  } cases[] = {
      {"474554202F20485454502F312E310D0A0D0A", Errc::Malformed, "PROXY v2: no signature"},  // GET / HTTP/1.1
      {std::string(kSig) + "11 11 000C C0000207 C6336401 C738 1D13", Errc::BadVersion,
       "PROXY v2: version is not 2"},
      {std::string(kSig) + "22 11 000C C0000207 C6336401 C738 1D13", Errc::Malformed,
       "PROXY v2: unknown command"},
      {std::string(kSig) + "21 00 0000", Errc::Unsupported, "PROXY v2: PROXY without a transport"},
      {std::string(kSig) + "21 01 0000", Errc::Unsupported, "PROXY v2: PROXY without an address family"},
      {std::string(kSig) + "21 12 000C C0000207 C6336401 C738 1D13", Errc::Unsupported,
       "PROXY v2: not a TCP connection"},
      {std::string(kSig) + "21 31 0000", Errc::Unsupported, "PROXY v2: not an IPv4 or IPv6 connection"},
      {std::string(kSig) + "21 11 0008 C0000207 C6336401", Errc::Malformed,
       "PROXY v2: length too short for IPv4 addresses"},
      {std::string(kSig) + "21 21 000C C0000207 C6336401 C738 1D13", Errc::Malformed,
       "PROXY v2: length too short for IPv6 addresses"},
      {std::string(kSig) + "21 11 03F1", Errc::TooLarge, "PROXY v2: header longer than 1024 bytes"},
  };
  for (const auto& c : cases) {
    INFO(c.bytes);
    auto d = proxy_v2::decode(hex(c.bytes.c_str()));
    REQUIRE_FALSE(d);
    CHECK(d.error().code == c.code);
    CHECK(std::string(d.error().what) == c.what);
  }
  // The largest header taken: 1024 bytes in all.
  auto big = proxy_v2::encode(
      {false, {policy::Address::v4({192, 0, 2, 7}), 1}, {policy::Address::v4({192, 0, 2, 8}), 2}},
      1024 - 16 - 12);
  REQUIRE(big.size() == 1024);
  auto d = proxy_v2::decode(big);
  REQUIRE(d);
  CHECK(d->msg);
}

TEST_CASE("PROXY v2: a signature prefix is recognised from its first byte", "[proxy_v2]") {
  CHECK(proxy_v2::starts_like_header(hex("0D")));
  CHECK(proxy_v2::starts_like_header(hex(kSig)));
  CHECK(proxy_v2::starts_like_header(hex((std::string(kSig) + "21").c_str())));
  CHECK_FALSE(proxy_v2::starts_like_header(hex("0D0A0D0A00FF")));
  CHECK_FALSE(proxy_v2::starts_like_header(hex("00")));            // a link's message 1 begins with 0x00 0x01
  CHECK_FALSE(proxy_v2::starts_like_header(hex("5052 4F58 59")));  // "PROXY": version 1 is not spoken
}
