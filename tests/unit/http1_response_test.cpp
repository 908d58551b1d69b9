#include "common/codec/http1_response.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_auth.hpp"
#include "common/codec/http1_body.hpp"
#include "common/codec/http1_head.hpp"
#include "tests/unit/split_util.hpp"

using namespace ferry;
using namespace ferry::http1;
using test::as_bytes;

namespace {

std::string text(const Bytes& b) { return {b.begin(), b.end()}; }

ResponseHead parsed(const Bytes& b, std::size_t& used) {
  auto r = decode_response_head(b);
  REQUIRE((r && r->msg));
  used = r->used;
  return *r->msg;
}

RequestHead with_auth(std::string_view value) {
  return RequestHead{
      "GET", "http://a/", Version::Http11, {{"Host", "a"}, {"Proxy-Authorization", std::string(value)}}};
}

}  // namespace

TEST_CASE("http1 error responses are complete HTTP/1.1 messages", "[http1]") {
  const auto b = error_response(502, "ferry: connection refused by example.com:80");
  CHECK(text(b) ==
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 44\r\n"
        "Connection: close\r\nX-Content-Type-Options: nosniff\r\n\r\nferry: connection refused by "
        "example.com:80\n");
  std::size_t used = 0;
  const auto head = parsed(b, used);
  CHECK(head.line.status == 502);
  const auto framing = response_body("GET", head);
  REQUIRE(framing);
  CHECK(used + framing->length == b.size());
}

TEST_CASE("http1 407 carries Proxy-Authenticate, 503 Retry-After", "[http1]") {
  std::size_t used = 0;
  const auto auth = parsed(error_response(407, "ferry: proxy authentication required"), used);
  REQUIRE(find_header(auth.headers, "Proxy-Authenticate"));
  CHECK(find_header(auth.headers, "Proxy-Authenticate")->value == "Basic realm=\"ferry\"");
  const auto busy = parsed(error_response(503, "ferry: stream limit reached at the relay"), used);
  REQUIRE(find_header(busy.headers, "Retry-After"));
  CHECK(find_header(busy.headers, "Retry-After")->value == "5");
  const auto custom = parsed(error_response(503, "x", {{"Retry-After", "30"}}), used);
  CHECK(count_headers(custom.headers, "Retry-After") == 1);
  CHECK(find_header(custom.headers, "Retry-After")->value == "30");
}

TEST_CASE("http1 error responses refuse header injection through extra headers", "[http1]") {
  const auto b = error_response(403, "denied",
                                {{"X-Rule", "deny *\r\nSet-Cookie: x=1"}, {"Bad Name", "v"}, {"X-Ok", "v"}});
  std::size_t used = 0;
  const auto head = parsed(b, used);
  CHECK_FALSE(find_header(head.headers, "X-Rule"));
  CHECK_FALSE(find_header(head.headers, "Set-Cookie"));
  CHECK(find_header(head.headers, "X-Ok"));
  CHECK(text(b).substr(used) == "denied\n");
}

TEST_CASE("http1 CONNECT 200", "[http1]") {
  CHECK(text(connect_established()) == "HTTP/1.1 200 Connection established\r\n\r\n");
}

TEST_CASE("http1 status for each relay outcome, per the outcome table", "[http1]") {
  using frame::OpenCode;
  CHECK(status_for(OpenCode::Ok) == 200);
  CHECK(status_for(OpenCode::Denied) == 403);
  CHECK(status_for(OpenCode::NetworkUnreachable) == 502);
  CHECK(status_for(OpenCode::HostUnreachable) == 502);
  CHECK(status_for(OpenCode::NameNotResolved) == 502);
  CHECK(status_for(OpenCode::Refused) == 502);
  CHECK(status_for(OpenCode::Failure) == 502);
  CHECK(status_for(OpenCode::Timeout) == 504);
  CHECK(status_for(OpenCode::Limit) == 503);
  CHECK(status_for(fail(Errc::TooLarge, "")) == 414);
  CHECK(status_for(fail(Errc::Limit, "")) == 431);
  CHECK(status_for(fail(Errc::Malformed, "")) == 400);
  CHECK(status_for(fail(Errc::Unsupported, "")) == 400);
  CHECK(status_for(fail(Errc::BadVersion, "")) == 505);
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
}

TEST_CASE("http1 Proxy-Authorization: Basic", "[http1]") {
  auto c = parse_basic_credentials("Basic bWU6c2VjcmV0");  // me:secret
  REQUIRE(c);
  CHECK(*c == Credentials{"me", "secret"});
  CHECK(*parse_basic_credentials("basic   bWU6c2VjcmV0") == Credentials{"me", "secret"});
  CHECK(*parse_basic_credentials("BASIC dTpwOnc6") ==
        Credentials{"u", "p:w:"});                                       // u:p:w: the first ':' splits
  CHECK(*parse_basic_credentials("Basic Og==") == Credentials{"", ""});  // ":" : empty, the caller compares
  CHECK(*parse_basic_credentials("Basic w6k6w6k=") == Credentials{"\xc3\xa9", "\xc3\xa9"});  // UTF-8

  auto none = proxy_credentials(RequestHead{"GET", "/", Version::Http11, {{"Host", "a"}}});
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto some = proxy_credentials(with_auth("Basic bWU6c2VjcmV0"));
  REQUIRE((some && *some));
  CHECK((*some)->user == "me");
  auto twice = with_auth("Basic bWU6c2VjcmV0");
  twice.headers.push_back({"proxy-authorization", "Basic bWU6c2VjcmV0"});
  CHECK_FALSE(proxy_credentials(twice));
}

TEST_CASE("http1 Proxy-Authorization: malformed credentials", "[http1]") {
  CHECK(parse_basic_credentials("Bearer abc").error().code == Errc::Unsupported);
  CHECK(parse_basic_credentials("Digest username=\"me\"").error().code == Errc::Unsupported);
  CHECK(parse_basic_credentials("Basicx bWU6c2VjcmV0").error().code == Errc::Unsupported);
  for (const char* bad :
       {"Basic", "Basic ", "Basic bWU6c2VjcmV0 ", "Basic bWU6c2VjcmV0=", "Basic bWU6c2VjcmV",
        "Basic bWVzZWNyZXQ=", "Basic bWU6c2Vj*mV0", "Basic bWU6c2Vj\tcmV0",
        "Basic Oh==", "Basic bWU6CnM=", "Basic bWU6c2VjcmV0,bWU6c2VjcmV0"}) {
    INFO(bad);
    auto r = parse_basic_credentials(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Malformed);
  }
  CHECK(parse_basic_credentials("Basic " + std::string(1028, 'A')).error().code == Errc::TooLarge);
}
