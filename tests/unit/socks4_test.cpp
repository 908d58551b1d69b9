#include "common/codec/socks4.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/split_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::hex;
using test::to_hex;

namespace {
auto request = [](ByteSpan b) { return socks4::decode_request(b); };
}  // namespace

TEST_CASE("socks4 CONNECT at every split point", "[socks4]") {
  // curl -x socks4://127.0.0.1:1080 http://93.184.216.34/ sends an empty USERID.
  const Bytes wire =
      hex("0401"
          "0050"
          "5db8d822"
          "00");
  const auto req = test::require_every_split(request, wire);
  CHECK(req.cmd == socks4::kCmdConnect);
  CHECK(req.target == Target::ipv4({93, 184, 216, 34}, 80));
  CHECK(req.user_id.empty());
  CHECK(socks4::encode_request(req) == wire);

  // The example in the SOCKS4 document's style: a USERID of "fred".
  const auto fred = test::require_every_split(request, hex("0401"
                                                           "1f90"
                                                           "c0000201"
                                                           "66726564"
                                                           "00"));
  CHECK(fred.user_id == "fred");
  CHECK(fred.target.to_string() == "192.0.2.1:8080");
}

TEST_CASE("socks4a CONNECT names the host, at every split point", "[socks4]") {
  // curl -x socks4a://127.0.0.1:1080 https://example.com/
  const Bytes wire =
      hex("0401"
          "01bb"
          "00000001"
          "00"
          "6578616d706c652e636f6d"
          "00");
  const auto req = test::require_every_split(request, wire);
  CHECK(req.target == Target::host("example.com", 443));
  CHECK(socks4::encode_request(req) == wire);
  const auto named = test::require_every_split(request, hex("0401"
                                                            "0016"
                                                            "000000ff"
                                                            "616c696365"
                                                            "00"
                                                            "6869"
                                                            "00"));
  CHECK(named.user_id == "alice");
  CHECK(named.target == Target::host("hi", 22));
}

TEST_CASE("socks4: 0.0.0.0 is a plain address, not 4a", "[socks4]") {
  const auto req = test::require_every_split(request, hex("0401"
                                                          "0050"
                                                          "00000000"
                                                          "00"));
  CHECK(req.target == Target::ipv4({0, 0, 0, 0}, 80));
}

TEST_CASE("socks4: BIND decodes so the session can reject it", "[socks4]") {
  CHECK(test::require_every_split(request, hex("0402"
                                               "0050"
                                               "01020304"
                                               "00"))
            .cmd == socks4::kCmdBind);
}

TEST_CASE("socks4: two requests in one buffer", "[socks4]") {
  const Bytes two =
      hex("0401005001020304"
          "00"
          "0401005000000001"
          "757365"
          "00"
          "68"
          "00");
  auto first = socks4::decode_request(two);
  REQUIRE((first && first->msg));
  CHECK(first->used == 9);
  auto second = socks4::decode_request(ByteSpan(two).subspan(first->used));
  REQUIRE((second && second->msg));
  CHECK(second->used == two.size() - 9);
  CHECK(second->msg->user_id == "use");
  CHECK(second->msg->target == Target::host("h", 80));
}

TEST_CASE("socks4: limits and bad input", "[socks4]") {
  Bytes user = hex("0401005001020304");
  user.insert(user.end(), 255, 'u');
  user.push_back(0);
  CHECK(test::require_every_split(request, user).user_id.size() == 255);

  Bytes too_long = hex("0401005001020304");
  too_long.insert(too_long.end(), 256, 'u');  // no NUL within 255 bytes: an error before the NUL arrives
  auto r = socks4::decode_request(too_long);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::TooLarge);

  Bytes long_host =
      hex("0401005000000001"
          "00");
  long_host.insert(long_host.end(), 256, 'h');
  REQUIRE_FALSE(socks4::decode_request(long_host));
  CHECK(socks4::decode_request(long_host).error().code == Errc::TooLarge);

  CHECK(socks4::decode_request(hex("05")).error().code == Errc::BadVersion);
  CHECK(socks4::decode_request(hex("0401005000000001"
                                   "00"
                                   "00"))
            .error()
            .code == Errc::Malformed);  // empty host
  CHECK(socks4::decode_request(hex("0401005000000001"
                                   "00"
                                   "612062"
                                   "00"))
            .error()
            .code == Errc::Malformed);
  CHECK(socks4::decode_request(hex("0401005000000001"
                                   "00"
                                   "61ff"
                                   "00"))
            .error()
            .code == Errc::Malformed);
}

TEST_CASE("socks4 reply bytes and the outcome table", "[socks4]") {
  CHECK(to_hex(socks4::encode_reply(socks4::kRequestGranted)) == "005a000000000000");
  CHECK(to_hex(socks4::encode_reply(socks4::kRequestRejectedOrFailed)) == "005b000000000000");
  using frame::OpenCode;
  CHECK(socks4::code_for(OpenCode::Ok) == 0x5A);
  for (auto c :
       {OpenCode::Refused, OpenCode::HostUnreachable, OpenCode::NetworkUnreachable, OpenCode::Timeout,
        OpenCode::Denied, OpenCode::NameNotResolved, OpenCode::Limit, OpenCode::Failure})
    CHECK(socks4::code_for(c) == 0x5B);
}
