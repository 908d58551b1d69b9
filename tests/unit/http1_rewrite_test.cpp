#include "common/codec/http1_rewrite.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_head.hpp"
#include "common/codec/http1_target.hpp"
#include "tests/unit/split_util.hpp"

using namespace ferry;
using namespace ferry::http1;
using test::as_bytes;

namespace {

RequestHead head_of(std::string_view wire) {
  auto h = decode_request_head(as_bytes(wire));
  REQUIRE((h && h->msg));
  return *h->msg;
}

struct Rewritten {
  std::string text;
  bool keep_alive;
};

Rewritten rewrite(std::string_view wire, std::optional<bool> upgrade = std::nullopt) {
  const auto head = head_of(wire);
  auto target = parse_request_target(head.method, head.target);
  REQUIRE(target);
  const auto fwd = rewrite_request(head, *target, upgrade.value_or(wants_upgrade(head)));
  // What we send must itself be a valid head that uses every byte.
  auto again = decode_request_head(fwd.bytes);
  REQUIRE((again && again->msg && again->used == fwd.bytes.size()));
  return {std::string(fwd.bytes.begin(), fwd.bytes.end()), fwd.keep_alive};
}

}  // namespace

TEST_CASE("http1 rewrite: curl's GET goes to the origin in origin-form", "[http1]") {
  const auto r = rewrite(
      "GET http://example.com/index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n");
  CHECK(r.text ==
        "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
        "Via: 1.1 ferry\r\n\r\n");
  CHECK(r.keep_alive);
}

TEST_CASE("http1 rewrite: hop-by-hop fields go, including what Connection names", "[http1]") {
  const auto r = rewrite(
      "POST http://web:8080/submit?x=1 HTTP/1.1\r\nHost: web:8080\r\nConnection: keep-alive, X-Secret, "
      "close\r\n"
      "X-Secret: s\r\nx-secret: t\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: Expires\r\n"
      "Upgrade: websocket\r\nProxy-Authorization: Basic bWU6c2VjcmV0\r\nProxy-Connection: close\r\n"
      "Content-Length: 3\r\nX-Keep: k\r\n\r\n");
  CHECK(r.text ==
        "POST /submit?x=1 HTTP/1.1\r\nHost: web:8080\r\nContent-Length: 3\r\nX-Keep: k\r\nVia: 1.1 ferry\r\n"
        "Connection: close\r\n\r\n");
  CHECK_FALSE(r.keep_alive);
}

TEST_CASE("http1 rewrite: Connection cannot remove framing fields or Host", "[http1]") {
  const auto r = rewrite(
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Transfer-Encoding, Host\r\n"
      "Content-Length: 2\r\n\r\n");
  CHECK(r.text == "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nVia: 1.1 ferry\r\n\r\n");
  const auto te = rewrite(
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: "
      "transfer-encoding\r\n\r\n");
  CHECK(te.text == "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nVia: 1.1 ferry\r\n\r\n");
}

TEST_CASE("http1 rewrite: Host comes from the target, and Content-Length is sent once", "[http1]") {
  const auto r = rewrite(
      "PUT http://origin.example:81/p HTTP/1.1\r\nHost: other.example\r\nContent-Length: 4, 4\r\n"
      "Content-Length: 4\r\n\r\n");
  CHECK(r.text ==
        "PUT /p HTTP/1.1\r\nHost: origin.example:81\r\nContent-Length: 4\r\nVia: 1.1 ferry\r\n\r\n");
}

TEST_CASE("http1 rewrite: HTTP/1.0 gets Host, keeps its version, and keep-alive is passed on", "[http1]") {
  const auto closing = rewrite("GET http://a.example/x HTTP/1.0\r\nUser-Agent: old\r\n\r\n");
  CHECK(closing.text == "GET /x HTTP/1.0\r\nHost: a.example\r\nUser-Agent: old\r\nVia: 1.0 ferry\r\n\r\n");
  CHECK_FALSE(closing.keep_alive);
  const auto keeping = rewrite("GET http://[::1]:8080 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  CHECK(keeping.text ==
        "GET / HTTP/1.0\r\nHost: [::1]:8080\r\nVia: 1.0 ferry\r\nConnection: keep-alive\r\n\r\n");
  CHECK(keeping.keep_alive);
}

TEST_CASE("http1 rewrite: Via is appended to the last Via field", "[http1]") {
  const auto r = rewrite(
      "GET http://a/ HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred\r\nAccept: */*\r\nVia: 1.1 p.example (x)\r\n\r\n");
  CHECK(r.text ==
        "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred\r\nAccept: */*\r\nVia: 1.1 p.example (x), 1.1 "
        "ferry\r\n\r\n");
}

TEST_CASE("http1 rewrite: Via named by Connection is dropped, and ours is still added", "[http1]") {
  const auto r = rewrite("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: via\r\nVia: 1.0 fred\r\n\r\n");
  CHECK(r.text == "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ferry\r\n\r\n");
}

TEST_CASE("http1 rewrite: a WebSocket upgrade keeps Upgrade and Connection: upgrade", "[http1]") {
  const std::string_view ws =
      "GET http://chat.example/ws HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  CHECK(wants_upgrade(head_of(ws)));
  CHECK(rewrite(ws).text ==
        "GET /ws HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
        "dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nVia: 1.1 ferry\r\nConnection: upgrade\r\n\r\n");
  // The agent may decline: then Upgrade is hop-by-hop like the rest.
  CHECK(rewrite(ws, false).text ==
        "GET /ws HTTP/1.1\r\nHost: chat.example\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nVia: 1.1 ferry\r\n\r\n");
  CHECK_FALSE(wants_upgrade(head_of("GET http://a/ HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")));
  CHECK_FALSE(
      wants_upgrade(head_of("GET http://a/ HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")));
}

TEST_CASE("http1 keep-alive as the client asks for it", "[http1]") {
  CHECK(client_keep_alive(head_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n")));
  CHECK_FALSE(client_keep_alive(head_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")));
  CHECK_FALSE(client_keep_alive(
      head_of("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n")));
  CHECK_FALSE(client_keep_alive(head_of("GET / HTTP/1.0\r\n\r\n")));
  CHECK_FALSE(client_keep_alive(head_of("GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n")));
  CHECK(client_keep_alive(head_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")));
}
