// http1_head_progress.hpp against the decoder it stands in front of: a head fed in pieces, decoded only
// when head_may_be_decided() says so, gets the same answer as one decoded after every piece; a
// message on the same piece, an error at most 8 KiB later.
#include <catch2/catch.hpp>
#include <string>

#include "common/codec/http1_head.hpp"
#include "common/codec/http1_head_progress.hpp"

using namespace ferry;
using namespace std::string_literals;

namespace {

struct Verdict {
  bool decided = false;
  bool message = false;
  Errc error{};
  std::size_t at = 0;  // bytes buffered when the answer came
};

Verdict feed(const std::string& head, std::size_t piece, bool gated) {
  Bytes buf;
  for (std::size_t off = 0; off < head.size(); off += piece) {
    const std::size_t before = buf.size();
    const std::size_t n = std::min(piece, head.size() - off);
    buf.insert(buf.end(), head.begin() + static_cast<std::ptrdiff_t>(off),
               head.begin() + static_cast<std::ptrdiff_t>(off + n));
    if (gated && !http1::head_may_be_decided(buf, before)) continue;
    auto d = http1::decode_request_head(buf);
    if (!d) return Verdict{true, false, d.error().code, buf.size()};
    if (d->msg) return Verdict{true, true, Errc{}, buf.size()};
  }
  return Verdict{false, false, Errc{}, buf.size()};
}

}  // namespace

TEST_CASE("decoding only when head_may_be_decided() says so changes no answer", "[head]") {
  const std::string ok = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n";
  const std::vector<std::string> heads = {
      ok,
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nCookie: " + std::string(20'000, 'c') + "\r\n\r\n",
      "GET http://a.test/" + std::string(10'000, 'p') + " HTTP/1.1\r\nHost: a.test\r\n\r\n",         // 414
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: " + std::string(40'000, 'x') + "\r\n\r\n",  // 431
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: bare\rcr\r\n\r\n",
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: nul\0byte\r\n\r\n"s,
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),     // a TLS ClientHello
      "GET http://a.test/ HTTP/1.1\nHost: a.test\n\n",                     // bare LF
      "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: ends with CR\r",  // not finished yet
      "\r\n\r\nGET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
  };
  for (const auto& head : heads) {
    for (std::size_t piece : {1u, 2u, 7u, 100u, 1000u, 5000u, 100000u}) {
      const Verdict every = feed(head, piece, false);
      const Verdict gated = feed(head, piece, true);
      INFO("head of " << head.size() << " bytes in pieces of " << piece);
      REQUIRE(gated.decided == every.decided);
      CHECK(gated.message == every.message);
      CHECK(gated.error == every.error);
      if (every.message) CHECK(gated.at == every.at);
      CHECK(gated.at >= every.at);
      CHECK(gated.at <= every.at + http1::Limits{}.max_start_line_bytes + piece);
    }
  }
}

TEST_CASE("bytes that cannot change the answer are not worth a decode", "[head]") {
  const std::string start = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: abc";
  const Bytes buf(start.begin(), start.end());
  CHECK_FALSE(http1::head_may_be_decided(buf, buf.size() - 3));  // "abc"
  const Bytes cr = [&] {
    Bytes b = buf;
    b.push_back('\r');
    return b;
  }();
  CHECK(http1::head_may_be_decided(cr, buf.size()));  // a CR: maybe the end of a line
  Bytes after_cr = cr;
  after_cr.push_back('x');
  CHECK(http1::head_may_be_decided(after_cr, cr.size()));  // and now a bare one
  Bytes tab = buf;
  tab.push_back('\t');
  CHECK_FALSE(http1::head_may_be_decided(tab, buf.size()));
}
