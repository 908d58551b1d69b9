#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_head.hpp"
#include "common/codec/http1_rewrite.hpp"

using namespace ferry;

namespace {

std::string rewrite(const std::string& wire, bool keep_alive) {
  auto d = http1::decode_response_head(Bytes(wire.begin(), wire.end()));
  REQUIRE(d);
  REQUIRE(d->msg);
  const Bytes out = http1::rewrite_response(*d->msg, keep_alive);
  return std::string(out.begin(), out.end());
}

}  // namespace

TEST_CASE("responses lose hop-by-hop fields, keep their framing and gain Via", "[http1]") {
  const std::string out = rewrite(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: 1\r\n"
      "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
      true);
  CHECK(
      out ==
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nVia: 1.1 ferry\r\n\r\n");
}

TEST_CASE("a response to a client that closes says so; an existing Via is extended", "[http1]") {
  CHECK(rewrite("HTTP/1.0 404 Not Found\r\nVia: 1.1 cache\r\nContent-Length: 0\r\n\r\n", false) ==
        "HTTP/1.0 404 Not Found\r\nVia: 1.1 cache, 1.0 ferry\r\nContent-Length: 0\r\nConnection: "
        "close\r\n\r\n");
}

TEST_CASE("101 keeps Upgrade and says Connection: upgrade", "[http1]") {
  CHECK(rewrite("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                false) ==
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nVia: 1.1 ferry\r\nConnection: "
        "upgrade\r\n\r\n");
}
