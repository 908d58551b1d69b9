// The CLOSE code table both ways (docs/protocol.md 4.11), and the CLOSE frames it stands for as bytes.
#include "common/link/close_code.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "tests/unit/test_util.hpp"

using namespace ferry;
using frame::CloseCode;
using test::hex;

namespace {

// The code a CLOSE frame's bytes carry, read the way the session reads it.
CloseCode code_of(const Bytes& wire) {
  std::size_t used = 0;
  auto f = frame::decode(wire, used);
  REQUIRE(f);
  REQUIRE(f->type == frame::Type::Close);
  auto c = frame::parse_close(f->payload);
  REQUIRE(c);
  return c->code;
}

}  // namespace

TEST_CASE("a link error is sent as Timeout, Revoked or ProtocolError", "[close]") {
  CHECK(link::close_code_for(Errc::Timeout) == CloseCode::Timeout);
  CHECK(link::close_code_for(Errc::Refused) == CloseCode::Revoked);
  for (Errc e : {Errc::Malformed, Errc::TooLarge, Errc::BadVersion, Errc::DecryptFailed, Errc::Replay,
                 Errc::Limit, Errc::NonceExhausted})
    CHECK(link::close_code_for(e) == CloseCode::ProtocolError);
}

TEST_CASE("the peer's CLOSE is reported in fixed words per code; Limit is not a clean end", "[close]") {
  struct Row {
    const char* code;
    Errc errc;
    const char* what;
  };
  for (const Row& r : {
           Row{"00", Errc::Closed, "the peer closed the link"},
           Row{"01", Errc::Closed, "the peer closed the link after an error"},
           Row{"02", Errc::Closed, "the peer closed the link after an error"},
           Row{"03", Errc::Closed, "the peer shut down"},
           Row{"04", Errc::Closed, "the peer revoked this key"},
           Row{"05", Errc::TooManyLinks, "the relay already holds as many links of this key as it admits"},
           Row{"63", Errc::Closed, "the peer closed the link after an error"},  // unknown: ProtocolError
       }) {
    // CLOSE, stream 0, 5 bytes: the code, then a 3-byte reason ("bye") that the report never repeats.
    const std::string wire = std::string("0a00000000000005") + r.code + "03627965";
    INFO(wire);
    const Error e = link::closed_by_peer(code_of(hex(wire)));
    CHECK(e.code == r.errc);
    CHECK(std::string(e.what) == r.what);
  }
}
