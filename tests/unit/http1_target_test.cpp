#include "common/codec/http1_target.hpp"

#include <catch2/catch.hpp>

#include "common/codec/http1_response.hpp"

using namespace ferry;
using namespace ferry::http1;

namespace {

RequestTarget parse(std::string_view method, std::string_view raw) {
  auto t = parse_request_target(method, raw);
  INFO(raw);
  REQUIRE(t);
  return *t;
}

Error refused(std::string_view method, std::string_view raw) {
  auto t = parse_request_target(method, raw);
  INFO(raw);
  REQUIRE_FALSE(t);
  return t.error();
}

}  // namespace

TEST_CASE("http1 absolute-form: target, authority and origin-form", "[http1]") {
  auto t = parse("GET", "http://example.com/index.html");
  CHECK(t.form == TargetForm::Absolute);
  CHECK(t.target == Target::host("example.com", 80));
  CHECK(t.authority == "example.com");
  CHECK(t.origin_form == "/index.html");

  t = parse("POST", "HTTP://Web.Example:8080/a/b?x=1&y=%20");
  CHECK(t.target == Target::host("Web.Example", 8080));
  CHECK(t.authority == "Web.Example:8080");
  CHECK(t.origin_form == "/a/b?x=1&y=%20");

  CHECK(parse("GET", "http://example.com").origin_form == "/");
  CHECK(parse("GET", "http://example.com?q").origin_form == "/?q");
  CHECK(parse("GET", "http://example.com:/").target.port == 80);  // empty port: the default
  CHECK(parse("GET", "http://a_b.example./").target.name == "a_b.example.");
}

TEST_CASE("http1 absolute-form with address literals", "[http1]") {
  auto v4 = parse("GET", "http://192.0.2.1:81/x");
  CHECK(v4.target == Target::ipv4({192, 0, 2, 1}, 81));
  CHECK(v4.authority == "192.0.2.1:81");
  auto v6 = parse("GET", "http://[2001:db8::1]/");
  CHECK(v6.target == Target::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80));
  CHECK(v6.authority == "[2001:db8::1]");
  CHECK(parse("GET", "http://[::ffff:192.0.2.1]:8080").target.port == 8080);
}

TEST_CASE("http1 absolute-form: refused shapes", "[http1]") {
  CHECK(refused("GET", "https://example.com/").code == Errc::Unsupported);
  CHECK(refused("GET", "ftp://example.com/").code == Errc::Unsupported);
  for (const char* bad : {"http://user@example.com/",
                          "http://user:pw@example.com/",
                          "http://trusted.example@evil/",
                          "http:///path",
                          "http://:80/",
                          "http://example.com:0/",
                          "http://example.com:65536/",
                          "http://example.com:8o/",
                          "http://example.com:080808/",
                          "http://example.com/#frag",
                          "http://[2001:db8::1/",
                          "http://[2001:db8::1]x/",
                          "http://[fe80::1%25eth0]/",
                          "http://[v1.x]/",
                          "http://2001:db8::1/",
                          "http://exa%6dple.com/",
                          "http://ex!ample/",
                          "http://2130706433/",
                          "http://127.1/",
                          "http://1.2.3.4.5/",
                          "http://300.1.1.1/",
                          "example.com/x",
                          "http:/example.com/"}) {
    INFO(bad);
    CHECK(refused("GET", bad).code == Errc::Malformed);
    CHECK(status_for(refused("GET", bad)) == 400);
  }
  std::string long_name(256, 'a');
  CHECK(refused("GET", "http://" + long_name + "/").code == Errc::Malformed);
  CHECK(parse("GET", "http://" + long_name.substr(1) + "/").target.name.size() == 255);
}

TEST_CASE("http1 authority-form for CONNECT", "[http1]") {
  auto t = parse("CONNECT", "example.com:443");
  CHECK(t.form == TargetForm::Authority);
  CHECK(t.target == Target::host("example.com", 443));
  CHECK(t.authority == "example.com:443");
  CHECK(parse("CONNECT", "[::1]:22").target ==
        Target::ipv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 22));
  CHECK(parse("CONNECT", "10.0.0.1:65535").target == Target::ipv4({10, 0, 0, 1}, 65535));
  for (const char* bad :
       {"example.com", "example.com:", "example.com:0", "example.com:99999", "[::1]", "::1:22",
        "http://example.com:443", "example.com:443/", "user@example.com:443", "/", "*"}) {
    INFO(bad);
    CHECK(refused("CONNECT", bad).code == Errc::Malformed);
  }
}

TEST_CASE("http1 origin-form and asterisk-form are for the agent itself", "[http1]") {
  auto status = parse("GET", "/status");
  CHECK(status.form == TargetForm::Origin);
  CHECK(status.origin_form == "/status");
  CHECK(parse("GET", "/a?b=c").origin_form == "/a?b=c");
  CHECK(parse("OPTIONS", "*").form == TargetForm::Asterisk);
  CHECK(refused("GET", "*").code == Errc::Malformed);
  CHECK(refused("GET", "/a#b").code == Errc::Malformed);
  CHECK(refused("GET", "").code == Errc::Malformed);
}
