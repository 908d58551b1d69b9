#include "common/codec/http1_head.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_response.hpp"
#include "tests/unit/split_util.hpp"

using namespace ferry;
using namespace ferry::http1;
using test::as_bytes;

namespace {

auto request = [](ByteSpan b) { return decode_request_head(b); };
auto response = [](ByteSpan b) { return decode_response_head(b); };

Error request_error(std::string_view wire, const Limits& limits = {}) {
  auto r = decode_request_head(as_bytes(wire), limits);
  REQUIRE_FALSE(r);
  return r.error();
}

int request_status(std::string_view wire) { return status_for(request_error(wire)); }

// What curl 7.88 sends for: curl -x http://127.0.0.1:8080 http://example.com/index.html
constexpr std::string_view kCurlGet =
    "GET http://example.com/index.html HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Proxy-Connection: Keep-Alive\r\n"
    "\r\n";

}  // namespace

TEST_CASE("http1 request head as curl sends it, at every split point", "[http1]") {
  const auto head = test::require_every_split(request, as_bytes(kCurlGet));
  CHECK(head.method == "GET");
  CHECK(head.target == "http://example.com/index.html");
  CHECK(head.version == Version::Http11);
  REQUIRE(head.headers.size() == 4);
  CHECK(head.headers[0] == Header{"Host", "example.com"});
  CHECK(head.headers[3] == Header{"Proxy-Connection", "Keep-Alive"});
}

TEST_CASE("http1 CONNECT as curl sends it for https", "[http1]") {
  const std::string_view wire =
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: curl/7.88.1\r\n"
      "Proxy-Connection: Keep-Alive\r\n\r\n";
  const auto head = test::require_every_split(request, as_bytes(wire));
  CHECK(head.method == "CONNECT");
  CHECK(head.target == "example.com:443");
}

TEST_CASE("http1 field values are trimmed of OWS and keep inner spaces and obs-text", "[http1]") {
  const auto head = test::require_every_split(
      request,
      as_bytes("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t one  two \t\r\nX-B:\r\nX-C: caf\xc3\xa9\r\n\r\n"));
  REQUIRE(head.headers.size() == 4);
  CHECK(head.headers[0].value == "a");
  CHECK(head.headers[1].value == "one  two");
  CHECK(head.headers[2].value.empty());
  CHECK(head.headers[3].value == "caf\xc3\xa9");
}

TEST_CASE("http1 HTTP/1.0 without Host, a higher minor version, and leading empty lines", "[http1]") {
  auto old = test::require_every_split(request, as_bytes("GET http://a/ HTTP/1.0\r\n\r\n"));
  CHECK(old.version == Version::Http10);
  CHECK(old.headers.empty());
  CHECK(test::require_every_split(request, as_bytes("GET / HTTP/1.9\r\nHost: a\r\n\r\n")).version ==
        Version::Http11);
  auto stray = decode_request_head(as_bytes("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  REQUIRE((stray && stray->msg));
  CHECK(stray->used == 4 + 27);
  CHECK(stray->msg->method == "GET");
}

TEST_CASE("http1 two pipelined requests in one buffer, with a body between", "[http1]") {
  const std::string wire =
      "POST http://a/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "GET http://b/y HTTP/1.1\r\nHost: b\r\n\r\n";
  auto first = decode_request_head(as_bytes(wire));
  REQUIRE((first && first->msg));
  CHECK(first->msg->method == "POST");
  CHECK(wire.substr(first->used, 5) == "hello");
  auto second = decode_request_head(as_bytes(wire).subspan(first->used + 5));
  REQUIRE((second && second->msg));
  CHECK(second->msg->target == "http://b/y");
  CHECK(first->used + 5 + second->used == wire.size());
}

TEST_CASE("http1 request line must be exactly method SP target SP HTTP/1.x", "[http1]") {
  for (const char* bad : {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
                          "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", "GET /\r\nHost: a\r\n\r\n", "GET\r\n\r\n",
                          " GET / HTTP/1.1\r\nHost: a\r\n\r\n", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
                          "GET / http/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
                          "GET / HTTP/1\r\nHost: a\r\n\r\n", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
                          "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"}) {
    INFO(bad);
    CHECK(request_error(bad).code == Errc::Malformed);
    CHECK(request_status(bad) == 400);
  }
  CHECK(request_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n").code == Errc::BadVersion);
  CHECK(request_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
}

TEST_CASE("http1 smuggling shapes in the head are refused", "[http1]") {
  struct Case {
    const char* name;
    std::string_view wire;
  };
  const Case cases[] = {
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n y\r\n\r\n"},
      {"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\ty\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"},
      {"tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n"},
      {"bare LF ends a field", "GET / HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\n\r\n"},
      {"bare LF ends the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n"},
      {"bare LF ends the head", "GET / HTTP/1.1\r\nHost: a\r\n\n"},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"},
      {"NUL in a value", std::string_view("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35)},
      {"DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"},
      {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n"},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"},
      {"non-token name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n"},
      {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(request_error(c.wire).code == Errc::Malformed);
  }
}

TEST_CASE("http1 garbage fails before the end of the line arrives", "[http1]") {
  const std::string_view tls("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);  // a TLS ClientHello
  CHECK(request_error(tls).code == Errc::Malformed);
  CHECK(request_error("GET / HT\rTP").code == Errc::Malformed);  // a bare CR mid-line
}

TEST_CASE("http1 limits: 414 for a long request line, 431 for headers", "[http1]") {
  const std::string mib(1 << 20, 'a');
  CHECK(request_status("GET /" + mib + " HTTP/1.1\r\nHost: a\r\n\r\n") == 414);
  CHECK(request_status("GET /" + mib) == 414);  // without waiting for the end of the line
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: " + mib + "\r\n\r\n") == 431);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: " + mib) == 431);
  CHECK(request_status(std::string(9000, '\n').insert(0, "\r")) == 400);  // bare LF
  std::string crlfs;
  for (int i = 0; i < 5000; ++i) crlfs += "\r\n";
  CHECK(request_status(crlfs) == 414);

  Limits small;
  small.max_start_line_bytes = 14;
  small.max_header_count = 2;
  small.max_header_section_bytes = 20;
  const std::string_view fits = "GET / HTTP/1.1\r\nHost: a\r\nB: c\r\n\r\n";  // line 14, section 9 + 6 + 2
  auto ok = decode_request_head(as_bytes(fits), small);
  REQUIRE((ok && ok->msg && ok->used == fits.size()));
  for (std::size_t cut = 0; cut < fits.size(); ++cut) {
    auto part = decode_request_head(as_bytes(fits).first(cut), small);
    REQUIRE((part && !part->msg));
  }
  CHECK(request_error("GET /a HTTP/1.1\r\nHost: a\r\n\r\n", small).code == Errc::TooLarge);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: a\r\nB: c\r\nD: e\r\n\r\n", small).code == Errc::Limit);
  CHECK(request_error("GET / HTTP/1.1\r\nHost: a\r\nB: cccccc\r\n\r\n", small).code == Errc::Limit);
}

TEST_CASE("http1 100 header fields are allowed, 101 are not", "[http1]") {
  std::string wire = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 99; ++i) wire += "X-" + std::to_string(i) + ": v\r\n";
  auto ok = decode_request_head(as_bytes(wire + "\r\n"));
  REQUIRE((ok && ok->msg));
  CHECK(ok->msg->headers.size() == 100);
  CHECK(request_status(wire + "X-Last: v\r\n\r\n") == 431);
}

TEST_CASE("http1 response heads, at every split point", "[http1]") {
  const auto ok = test::require_every_split(
      response, as_bytes("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n"));
  CHECK(ok.line == StatusLine{Version::Http11, 200, "OK"});
  CHECK(ok.headers.size() == 2);
  const auto old = test::require_every_split(response, as_bytes("HTTP/1.0 404 Not  Found\r\n\r\n"));
  CHECK(old.line == StatusLine{Version::Http10, 404, "Not  Found"});
  CHECK(test::require_every_split(response, as_bytes("HTTP/1.1 204 \r\n\r\n")).line.reason.empty());
  CHECK(test::require_every_split(response, as_bytes("HTTP/1.1 200\r\n\r\n")).line.status == 200);
  CHECK(test::require_every_split(response,
                                  as_bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                           "Connection: Upgrade\r\n\r\n"))
            .line.status == 101);
}

TEST_CASE("http1 bad response heads", "[http1]") {
  for (const char* bad : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
                          "HTTP/1.1 600 X\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n",
                          "HTTP/1.1 200 OK\nX: y\r\n\r\n", "HTTP/1.1 200 OK\r\n X: y\r\n\r\n",
                          "\r\nHTTP/1.1 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n"}) {
    INFO(bad);
    auto r = decode_response_head(as_bytes(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Malformed);
  }
  CHECK(decode_response_head(as_bytes("HTTP/2.0 200 OK\r\n\r\n")).error().code == Errc::BadVersion);
}
