#include "common/codec/http1_body.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_chunked.hpp"
#include "tests/unit/split_util.hpp"

using namespace ferry;
using namespace ferry::http1;
using test::as_bytes;

namespace {

RequestHead req(Version v, Headers h) { return RequestHead{"POST", "http://a/", v, std::move(h)}; }
RequestHead req(Headers h) { return req(Version::Http11, std::move(h)); }
ResponseHead resp(int status, Headers h, Version v = Version::Http11) {
  return ResponseHead{{v, status, ""}, std::move(h)};
}

Result<BodyFraming> framing_of(Headers h) { return request_body(req(std::move(h))); }

// Feeds `wire` in one piece; returns the bytes the body took, or nullopt on an error.
std::optional<std::size_t> scan_whole(std::string_view wire, ChunkLimits limits = {}) {
  ChunkedScanner s{limits};
  auto p = s.feed(as_bytes(wire));
  if (!p) return std::nullopt;
  REQUIRE(p->done == s.done());
  return p->done ? std::optional<std::size_t>{p->used} : std::optional<std::size_t>{};
}

}  // namespace

TEST_CASE("http1 request framing: none, length, chunked", "[http1]") {
  CHECK(*framing_of({{"Host", "a"}}) == BodyFraming{BodyKind::None, 0});
  CHECK(*framing_of({{"Content-Length", "0"}}) == BodyFraming{BodyKind::Length, 0});
  CHECK(*framing_of({{"Content-Length", "1234"}}) == BodyFraming{BodyKind::Length, 1234});
  CHECK(*framing_of({{"Content-Length", "5, 5"}}) == BodyFraming{BodyKind::Length, 5});
  CHECK(*framing_of({{"Content-Length", "5"}, {"content-length", "5"}}) == BodyFraming{BodyKind::Length, 5});
  CHECK(*framing_of({{"Content-Length", "9223372036854775807"}}) ==
        BodyFraming{BodyKind::Length, 9223372036854775807ull});
  CHECK(*framing_of({{"Transfer-Encoding", "chunked"}}) == BodyFraming{BodyKind::Chunked, 0});
  CHECK(*framing_of({{"transfer-encoding", "Chunked"}}) == BodyFraming{BodyKind::Chunked, 0});
}

TEST_CASE("http1 request framing: smuggling shapes are 400", "[http1]") {
  const std::vector<std::pair<const char*, Headers>> cases = {
      {"CL and TE", {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}},
      {"TE and CL", {{"Transfer-Encoding", "chunked"}, {"Content-Length", "0"}}},
      {"differing CL fields", {{"Content-Length", "5"}, {"Content-Length", "6"}}},
      {"differing CL list", {{"Content-Length", "5, 6"}}},
      {"same value, other spelling", {{"Content-Length", "5"}, {"Content-Length", "05"}}},
      {"signed CL", {{"Content-Length", "+5"}}},
      {"negative CL", {{"Content-Length", "-1"}}},
      {"hex CL", {{"Content-Length", "0x5"}}},
      {"empty CL", {{"Content-Length", ""}}},
      {"CL with an empty element", {{"Content-Length", "5,"}}},
      {"CL with inner space", {{"Content-Length", "1 0"}}},
      {"CL over 2^63-1", {{"Content-Length", "9223372036854775808"}}},
      {"CL of 20 digits", {{"Content-Length", "18446744073709551616"}}},
      {"chunked, identity", {{"Transfer-Encoding", "chunked, identity"}}},
      {"identity", {{"Transfer-Encoding", "identity"}}},
      {"gzip, chunked", {{"Transfer-Encoding", "gzip, chunked"}}},
      {"chunked twice in one field", {{"Transfer-Encoding", "chunked, chunked"}}},
      {"chunked twice in two fields", {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}},
      {"xchunked", {{"Transfer-Encoding", "xchunked"}}},
      {"trailing comma", {{"Transfer-Encoding", "chunked,"}}},
      {"quoted", {{"Transfer-Encoding", "\"chunked\""}}},
      {"empty TE", {{"Transfer-Encoding", ""}}},
  };
  for (const auto& [name, headers] : cases) {
    INFO(name);
    auto f = framing_of(headers);
    REQUIRE_FALSE(f);
    CHECK(f.error().code == Errc::Malformed);
  }
  auto old = request_body(req(Version::Http10, {{"Transfer-Encoding", "chunked"}}));
  REQUIRE_FALSE(old);
  CHECK(old.error().code == Errc::Malformed);
}

TEST_CASE("http1 response framing per RFC 9112 section 6.3", "[http1]") {
  const Headers cl{{"Content-Length", "10"}};
  const Headers te{{"Transfer-Encoding", "chunked"}};
  CHECK(response_body("HEAD", resp(200, cl))->kind == BodyKind::None);
  CHECK(response_body("GET", resp(100, {}))->kind == BodyKind::None);
  CHECK(response_body("GET", resp(103, cl))->kind == BodyKind::None);
  CHECK(response_body("GET", resp(204, cl))->kind == BodyKind::None);
  CHECK(response_body("GET", resp(304, cl))->kind == BodyKind::None);
  CHECK(response_body("GET", resp(101, {{"Upgrade", "websocket"}}))->kind == BodyKind::Tunnel);
  CHECK(response_body("CONNECT", resp(200, {}))->kind == BodyKind::Tunnel);
  CHECK(response_body("CONNECT", resp(407, cl))->kind == BodyKind::Length);
  CHECK(*response_body("GET", resp(200, cl)) == BodyFraming{BodyKind::Length, 10});
  CHECK(response_body("GET", resp(200, te))->kind == BodyKind::Chunked);
  CHECK(response_body("GET", resp(200, {{"Transfer-Encoding", "gzip, chunked"}}))->kind == BodyKind::Chunked);
  CHECK(response_body("GET", resp(200, {{"Transfer-Encoding", "gzip"}}))->kind == BodyKind::CloseDelimited);
  CHECK(response_body("GET", resp(200, {}))->kind == BodyKind::CloseDelimited);
  CHECK(response_body("GET", resp(200, {}, Version::Http10))->kind == BodyKind::CloseDelimited);
  CHECK_FALSE(response_body("GET", resp(200, {{"Content-Length", "10"}, {"Transfer-Encoding", "chunked"}})));
  CHECK_FALSE(response_body("GET", resp(200, te, Version::Http10)));
  CHECK_FALSE(response_body("GET", resp(200, {{"Content-Length", "1, 2"}})));
  CHECK_FALSE(response_body("GET", resp(200, {{"Transfer-Encoding", "chunked,"}})));
}

TEST_CASE("http1 chunked: RFC 9112 example bodies end where they should, at every split", "[http1]") {
  const std::string body =
      "4\r\nWiki\r\n"
      "6;name=value;flag\r\npedia \r\n"
      "E \t;q=\"quoted; string\"\r\nin \r\n\r\nchunks.\r\n"
      "0\r\n"
      "Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
      "X-Trailer:\r\n"
      "\r\n";
  const std::string wire = body + "GET / HTTP/1.1\r\n";  // the next request follows at once
  REQUIRE(scan_whole(wire) == body.size());
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("split at " << cut);
    ChunkedScanner s;
    auto a = s.feed(as_bytes(wire).first(cut));
    REQUIRE(a);
    if (a->done) {
      CHECK(a->used == body.size());
      continue;
    }
    CHECK(a->used == cut);
    auto b = s.feed(as_bytes(wire).subspan(cut));
    REQUIRE((b && b->done));
    CHECK(cut + b->used == body.size());
  }
  // One byte at a time.
  ChunkedScanner s;
  std::size_t total = 0;
  for (std::size_t i = 0; i < wire.size() && !s.done(); ++i)
    total += s.feed(as_bytes(wire).subspan(i, 1))->used;
  CHECK(total == body.size());
  CHECK(s.feed(as_bytes("more"))->used == 0);
}

TEST_CASE("http1 chunked: minimal, large and leading-zero sizes", "[http1]") {
  CHECK(scan_whole("0\r\n\r\n") == 5u);
  CHECK(scan_whole("000\r\n\r\n") == 7u);
  CHECK(scan_whole("0;ext\r\n\r\n") == 9u);
  CHECK(scan_whole("0000000000000001\r\nx\r\n0\r\n\r\n") == 26u);  // 16 digits is the most
  ChunkedScanner big;
  auto p = big.feed(as_bytes("ffffffffffffffff\r\n"));  // 2^64 - 1 data bytes: counted, not stored
  REQUIRE((p && !p->done));
  const Bytes mib(1 << 20, 'x');
  for (int i = 0; i < 16; ++i) REQUIRE(big.feed(mib)->used == mib.size());
}

TEST_CASE("http1 chunked: bad sizes, missing CRLFs and control bytes are errors", "[http1]") {
  for (const char* bad : {"\r\n",
                          "g\r\n",
                          ";\r\n",
                          " 5\r\n",
                          "5 \r\n",
                          "5 5\r\n",
                          "-5\r\n",
                          "0x5\r\n",
                          "5\n",
                          "5\rx",
                          "5;\x01\r\n",
                          "5;a\nb\r\n",
                          "00000000000000001\r\n",
                          "10000000000000000\r\n",
                          "1\r\nab\r\n",
                          "1\r\na\n",
                          "1\r\na\r\r",
                          "1\r\naXY",
                          "0\r\n\n",
                          "0\r\nX: y\n\r\n",
                          "0\r\n y\r\n\r\n",
                          "0\r\nX : y\r\n\r\n",
                          "0\r\n: y\r\n\r\n",
                          "0\r\nX: \x7f\r\n\r\n",
                          "0\r\nX\r\n\r\n"}) {
    INFO(bad);
    ChunkedScanner s;
    auto r = s.feed(as_bytes(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Malformed);
    CHECK_FALSE(s.feed(as_bytes("0\r\n\r\n")));  // stays failed
  }
}

TEST_CASE("http1 chunked: size line and trailer limits", "[http1]") {
  ChunkLimits small{16, 24};
  CHECK(scan_whole("1;aaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", small) == 26u);  // 16 bytes before CRLF
  ChunkedScanner line{small};
  auto r = line.feed(as_bytes("1;aaaaaaaaaaaaaaa\r\n"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Limit);
  CHECK(scan_whole("0\r\nX: 12345678901234567\r\n\r\n", small) ==
        27u);  // 24 trailer bytes with the last CRLF
  ChunkedScanner trailer{small};
  r = trailer.feed(as_bytes("0\r\nX: 123456789012345678\r\n\r\n"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Limit);
  ChunkedScanner endless;  // default limits: an endless extension stops at 4 KiB
  r = endless.feed(as_bytes("1;" + std::string(1 << 20, 'a')));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Limit);
}
