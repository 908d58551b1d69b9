#include "common/codec/socks5.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/split_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::hex;
using test::to_hex;

namespace {
auto greeting = [](ByteSpan b) { return socks5::decode_greeting(b); };
auto userpass = [](ByteSpan b) { return socks5::decode_userpass(b); };
auto request = [](ByteSpan b) { return socks5::decode_request(b); };
}  // namespace

TEST_CASE("socks5 greeting: what curl sends, at every split point", "[socks5]") {
  // curl without credentials offers "no authentication"; a GSS-API build adds 0x01, and
  // --proxy-user adds 0x02 (lib/socks.c).
  CHECK(test::require_every_split(greeting, hex("050100")).methods == std::vector<std::uint8_t>{0x00});
  auto g = test::require_every_split(greeting, hex("0503000102"));
  CHECK(g.methods == std::vector<std::uint8_t>{0x00, 0x01, 0x02});
  CHECK(g.offers(socks5::kMethodUsernamePassword));
  CHECK_FALSE(test::require_every_split(greeting, hex("050100")).offers(socks5::kMethodUsernamePassword));
}

TEST_CASE("socks5 greeting: 255 methods, and bad input", "[socks5]") {
  Bytes all{0x05, 0xFF};
  for (int m = 0; m < 255; ++m) all.push_back(static_cast<std::uint8_t>(m));
  CHECK(test::require_every_split(greeting, all).methods.size() == 255);

  auto zero = socks5::decode_greeting(hex("0500"));
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == Errc::Malformed);
  auto v4 = socks5::decode_greeting(hex("04"));  // fails on the first byte, no waiting
  REQUIRE_FALSE(v4);
  CHECK(v4.error().code == Errc::BadVersion);
  auto http = socks5::decode_greeting(test::as_bytes("GET / HTTP/1.1\r\n"));
  REQUIRE_FALSE(http);
  CHECK(http.error().code == Errc::BadVersion);
}

TEST_CASE("socks5 method choice and userpass status bytes", "[socks5]") {
  CHECK(to_hex(socks5::encode_method_choice(socks5::kMethodNoAuthenticationRequired)) == "0500");
  CHECK(to_hex(socks5::encode_method_choice(socks5::kMethodUsernamePassword)) == "0502");
  CHECK(to_hex(socks5::encode_method_choice(socks5::kMethodNoAcceptableMethods)) == "05ff");
  CHECK(to_hex(socks5::encode_userpass_status(true)) == "0100");
  CHECK(to_hex(socks5::encode_userpass_status(false)) == "0101");
}

TEST_CASE("socks5 username/password (RFC 1929) at every split point", "[socks5]") {
  const Bytes wire =
      hex("01"
          "02"
          "6d65"
          "06"
          "736563726574");  // "me" / "secret"
  const auto up = test::require_every_split(userpass, wire);
  CHECK(up.user == "me");
  CHECK(up.pass == "secret");
  CHECK(socks5::encode_userpass(up) == wire);

  // Opaque octets, including bytes that are not text, pass through unchanged.
  const auto odd = test::require_every_split(userpass, hex("01"
                                                           "01"
                                                           "00"
                                                           "02"
                                                           "ff3a"));
  CHECK(odd.user == std::string(1, '\0'));
  CHECK(odd.pass == "\xff:");

  Bytes longest{0x01, 0xFF};
  longest.insert(longest.end(), 255, 'u');
  longest.push_back(0xFF);
  longest.insert(longest.end(), 255, 'p');
  const auto big = test::require_every_split(userpass, longest);
  CHECK((big.user == std::string(255, 'u') && big.pass == std::string(255, 'p')));
}

TEST_CASE("socks5 username/password: bad input", "[socks5]") {
  for (const char* bad : {"05", "0100", "0101610000", "000161"}) {
    INFO(bad);
    CHECK_FALSE(socks5::decode_userpass(hex(bad)));
  }
  CHECK(socks5::decode_userpass(hex("05")).error().code == Errc::BadVersion);
  CHECK(socks5::decode_userpass(hex("0100")).error().code == Errc::Malformed);
  CHECK(socks5::decode_userpass(hex("01016100")).error().code == Errc::Malformed);
}

TEST_CASE("socks5 CONNECT as curl --socks5-hostname sends it, at every split point", "[socks5]") {
  // curl -x socks5h://127.0.0.1:1080 https://example.com/
  const Bytes wire =
      hex("05010003"
          "0b"
          "6578616d706c652e636f6d"
          "01bb");
  const auto req = test::require_every_split(request, wire);
  CHECK(req.cmd == socks5::kCmdConnect);
  CHECK(req.target == Target::host("example.com", 443));
  CHECK(socks5::encode_request(req) == wire);
}

TEST_CASE("socks5 CONNECT to IPv4 and IPv6 addresses", "[socks5]") {
  const Bytes v4 =
      hex("05010001"
          "5db8d822"
          "0050");  // curl -x socks5:// resolves first
  CHECK(test::require_every_split(request, v4).target == Target::ipv4({93, 184, 216, 34}, 80));
  const Bytes v6 =
      hex("05010004"
          "20010db8000000000000000000000001"
          "0016");
  const auto req = test::require_every_split(request, v6);
  CHECK(req.target == Target::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 22));
  CHECK(req.target.to_string() == "[2001:db8::1]:22");
  CHECK(socks5::encode_request(req) == v6);
}

TEST_CASE("socks5 BIND and UDP ASSOCIATE decode so the session can answer 0x07", "[socks5]") {
  CHECK(test::require_every_split(request, hex("05020001"
                                               "00000000"
                                               "0000"))
            .cmd == socks5::kCmdBind);
  CHECK(test::require_every_split(request, hex("05030001"
                                               "00000000"
                                               "0000"))
            .cmd == socks5::kCmdUdpAssociate);
  CHECK(test::require_every_split(request, hex("05090001"
                                               "7f000001"
                                               "0050"))
            .cmd == 0x09);
}

TEST_CASE("socks5 request: two requests in one buffer", "[socks5]") {
  Bytes two =
      hex("05010003"
          "01"
          "61"
          "0001");
  const Bytes second =
      hex("05010001"
          "01020304"
          "0102");
  two.insert(two.end(), second.begin(), second.end());
  auto first = socks5::decode_request(two);
  REQUIRE(first);
  REQUIRE(first->msg);
  CHECK(first->msg->target == Target::host("a", 1));
  REQUIRE(first->used == 8);
  auto next = socks5::decode_request(ByteSpan(two).subspan(first->used));
  REQUIRE(next);
  REQUIRE(next->msg);
  CHECK(next->msg->target == Target::ipv4({1, 2, 3, 4}, 258));
  CHECK(next->used == second.size());
}

TEST_CASE("socks5 request: bad input fails as soon as it shows", "[socks5]") {
  auto code = [](std::string_view h) {
    auto r = socks5::decode_request(hex(h));
    REQUIRE_FALSE(r);
    return r.error().code;
  };
  CHECK(code("04") == Errc::BadVersion);
  CHECK(code("050101") == Errc::Malformed);      // RSV not 0
  CHECK(code("05010002") == Errc::Unsupported);  // unknown ATYP
  CHECK(code("05010005") == Errc::Unsupported);
  CHECK(code("0501000300") == Errc::Malformed);        // empty DOMAINNAME
  CHECK(code("0501000303612062") == Errc::Malformed);  // "a b": a space
  CHECK(code("05010003026100") == Errc::Malformed);    // NUL
  CHECK(code("050100030261ff") == Errc::Malformed);    // not ASCII
  CHECK(socks5::rep_for(socks5::decode_request(hex("05010002")).error()) ==
        socks5::kRepAddressTypeNotSupported);
  CHECK(socks5::rep_for(socks5::decode_request(hex("050101")).error()) ==
        socks5::kRepGeneralSocksServerFailure);
}

TEST_CASE("socks5 request: a 255-byte name is the longest", "[socks5]") {
  Bytes wire = hex("05010003ff");
  wire.insert(wire.end(), 255, 'x');
  wire.insert(wire.end(), {0x00, 0x50});
  CHECK(test::require_every_split(request, wire).target.name.size() == 255);
}

TEST_CASE("socks5 reply bytes", "[socks5]") {
  CHECK(to_hex(socks5::encode_reply(socks5::kRepSucceeded)) == "05000001000000000000");
  CHECK(to_hex(socks5::encode_reply(socks5::kRepCommandNotSupported)) == "05070001000000000000");
  CHECK(to_hex(socks5::encode_reply(0, Target::ipv4({192, 0, 2, 1}, 443))) ==
        "050000"
        "01"
        "c0000201"
        "01bb");
  CHECK(to_hex(socks5::encode_reply(0, Target::host("ab", 80))) ==
        "050000"
        "03"
        "02"
        "6162"
        "0050");
  CHECK(to_hex(socks5::encode_reply(4, Target::ipv6({0xfe, 0x80}, 1))) ==
        "050400"
        "04"
        "fe800000000000000000000000000000"
        "0001");
}

TEST_CASE("socks5 REP for each relay outcome, per the outcome table", "[socks5]") {
  using frame::OpenCode;
  CHECK(socks5::rep_for(OpenCode::Ok) == 0x00);
  CHECK(socks5::rep_for(OpenCode::Denied) == 0x02);
  CHECK(socks5::rep_for(OpenCode::NetworkUnreachable) == 0x03);
  CHECK(socks5::rep_for(OpenCode::HostUnreachable) == 0x04);
  CHECK(socks5::rep_for(OpenCode::NameNotResolved) == 0x04);
  CHECK(socks5::rep_for(OpenCode::Refused) == 0x05);
  CHECK(socks5::rep_for(OpenCode::Timeout) == 0x06);
  CHECK(socks5::rep_for(OpenCode::Limit) == 0x01);
  CHECK(socks5::rep_for(OpenCode::Failure) == 0x01);
}
