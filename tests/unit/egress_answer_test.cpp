// The egress check's request and answer (common/codec/egress_answer.hpp), byte by byte.
#include "common/codec/egress_answer.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/split_util.hpp"

using namespace ferry;
using test::as_bytes;

namespace {

egress::Outcome decode(std::string_view answer, bool eof) {
  return egress::decode_answer(as_bytes(answer), eof);
}

// Every strict prefix of `answer` (without EOF) needs more; the whole, with `eof`, is the outcome.
egress::Outcome every_split(std::string_view answer, bool eof) {
  for (std::size_t cut = 0; cut < answer.size(); ++cut) {
    INFO("prefix of " << cut << " bytes");
    const auto part = decode(answer.substr(0, cut), false);
    REQUIRE_FALSE(part.done);
  }
  return decode(answer, eof);
}

}  // namespace

TEST_CASE("egress check: the URL is an absolute http URL, and the request is HTTP/1.0", "[egress]") {
  auto url = egress::parse_check_url("http://ip.office.example:8080/where?fmt=text");
  REQUIRE(url);
  CHECK(url->target == Target::host("ip.office.example", 8080));
  CHECK(egress::request_for(*url) ==
        "GET /where?fmt=text HTTP/1.0\r\nHost: ip.office.example:8080\r\nUser-Agent: ferry\r\n"
        "Accept: text/plain\r\n\r\n");
  auto bare = egress::parse_check_url("http://203.0.113.9");
  REQUIRE(bare);
  CHECK(egress::request_for(*bare).rfind("GET / HTTP/1.0\r\nHost: 203.0.113.9\r\n", 0) == 0);
  for (const char* bad :
       {"https://ip.example/", "http://user@ip.example/", "ftp://ip.example/", "ip.example",
        "http://ip.example:0/", "http:///path", "http://ip example/", "http://ip.example/a\r\nX-Injected: 1",
        "http://ip.example/a\rb", "http://ip.example/\x7f"}) {
    INFO(bad);
    CHECK_FALSE(egress::parse_check_url(bad));
  }
}

TEST_CASE("egress check: an answer with Content-Length is complete at its last byte", "[egress]") {
  const auto o = every_split(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n203.0.113.7\n", false);
  REQUIRE(o.done);
  CHECK(o.address == "203.0.113.7");
  CHECK(o.error.empty());
  // Bytes after the body (a keep-alive origin's next answer) are not the address.
  CHECK(decode("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n192.0.2.1junk", false).address == "192.0.2.1");
}

TEST_CASE("egress check: a close-delimited answer ends at EOF; IPv6 and whitespace", "[egress]") {
  const std::string answer = "HTTP/1.0 200 OK\r\n\r\n  2001:db8::1\r\n";
  const auto o = every_split(answer, true);
  REQUIRE(o.done);
  CHECK(o.address == "2001:db8::1");
  CHECK_FALSE(decode(answer, false).done);  // more may come until the origin closes
}

TEST_CASE("egress check: answers that are not an address say why", "[egress]") {
  struct Case {
    std::string answer;
    bool eof;
    std::string expect;
  } cases[] = {
      {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false,
       "answered HTTP 404 \"Not Found\", not 200"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n<html>203.0.113.7</html>\n", false,
       "not an IP address: \"<html>203.0.113.7</html>\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, "empty body"},
      {"HTTP/1.0 200 OK\r\n\r\n{\"ip\":\"203.0.113.7\"}", true, "not an IP address"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", false, "999 bytes, too long"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, "chunked"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n203.0", true, "closed before the end"},
      {"HTTP/1.1 200 OK\r\nContent-Le", true, "closed before a complete HTTP answer"},
      {"SSH-2.0-OpenSSH_9.2\r\n", false, "not HTTP"},
      {"HTTP/1.0 200 OK\r\n\r\n" + std::string(300, '1'), false, "longer than 256 bytes"},
      {"HTTP/1.0 200 OK\r\n\r\n1.2.3.4\x01\xff", true, "not an IP address: \"1.2.3.4??\""},
  };
  for (const auto& c : cases) {
    INFO(c.answer);
    const auto o = decode(c.answer, c.eof);
    REQUIRE(o.done);
    CHECK(o.address.empty());
    CHECK_THAT(o.error, Catch::Contains(c.expect));
  }
  CHECK_THAT(decode(std::string(egress::kMaxAnswer + 1, 'x'), false).error, Catch::Contains("longer than"));
}

TEST_CASE("egress check: addresses compare by value, not by spelling", "[egress]") {
  CHECK(egress::is_ip_address("203.0.113.7"));
  CHECK(egress::is_ip_address("::ffff:203.0.113.7"));
  CHECK_FALSE(egress::is_ip_address("203.0.113"));
  CHECK_FALSE(egress::is_ip_address("office.example"));
  CHECK_FALSE(egress::is_ip_address(std::string(100, '1')));
  CHECK(egress::same_address("2001:db8::1", "2001:DB8:0:0::1"));
  CHECK(egress::same_address("203.0.113.7", "::ffff:203.0.113.7"));
  CHECK_FALSE(egress::same_address("203.0.113.7", "203.0.113.8"));
  CHECK_FALSE(egress::same_address("x", "x"));
}
