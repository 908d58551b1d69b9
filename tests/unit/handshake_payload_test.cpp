// The handshake payloads alone, with byte vectors (docs/protocol.md 2.2 and 2.4): the known answer
// for a timestamp, the suites byte a relay may omit, trailing bytes ignored, and truncated input.
#include "common/link/handshake_payload.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "tests/unit/test_util.hpp"

using namespace ferry;
using link::Message1Payload;
using link::Message2Payload;
using test::hex;
using test::to_hex;

namespace {

const auto kNov2023 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

// The session id below, as the payloads carry it.
const std::string kSessionHex = "101112131415161718191a1b1c1d1e1f";
const link::SessionId kSession{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                               0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

// Every strict prefix of `whole`, the shortest payload there is, is malformed with `what`.
template <class Payload>
void require_too_short(const Bytes& whole, const std::string& what) {
  for (std::size_t n = 0; n < whole.size(); ++n) {
    INFO(n << " bytes");
    auto p = Payload::decode(ByteSpan(whole).first(n));
    REQUIRE_FALSE(p);
    CHECK(p.error().code == Errc::Malformed);
    CHECK(p.error().what == what);
  }
  CHECK(Payload::decode(whole));
}

}  // namespace

TEST_CASE("message 1's payload is timestamp, version, flags: the protocol's worked example",
          "[handshake][payload]") {
  Message1Payload p;
  p.timestamp = crypto::tai64n_from(kNov2023);
  CHECK(to_hex(p.encode()) == "400000006553f10a000000000100");
  auto back = Message1Payload::decode(hex("400000006553f10a000000000100"));
  REQUIRE(back);
  CHECK(back->timestamp == p.timestamp);
  CHECK(back->wire_version == 1);
  CHECK(back->flags == 0);
}

TEST_CASE("message 1's payload: flags and any version are read, not judged", "[handshake][payload]") {
  auto p = Message1Payload::decode(hex("400000006553f10a0000002a07a5"));
  REQUIRE(p);
  CHECK(p->timestamp[11] == 0x2a);
  CHECK(p->wire_version == 7);
  CHECK(p->flags == 0xa5);
  CHECK(to_hex(p->encode()) == "400000006553f10a0000002a07a5");
}

TEST_CASE("message 1's payload: bytes after the flags are ignored", "[handshake][payload]") {
  auto p = Message1Payload::decode(hex("400000006553f10a000000000100" + std::string(32, 'e')));
  REQUIRE(p);
  CHECK(to_hex(p->encode()) == "400000006553f10a000000000100");
}

TEST_CASE("message 1's payload shorter than 14 bytes is malformed", "[handshake][payload][bad-input]") {
  require_too_short<Message1Payload>(hex("400000006553f10a000000000100"), "handshake payload is too short");
}

TEST_CASE("message 2's payload is version, session id, accepted suites", "[handshake][payload]") {
  const Message2Payload p{link::kWireVersion, kSession,
                          crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm}};
  CHECK(to_hex(p.encode()) == "01" + kSessionHex + "03");
  auto back = Message2Payload::decode(hex("01" + kSessionHex + "02"));
  REQUIRE(back);
  CHECK(back->wire_version == 1);
  CHECK(back->session_id == kSession);
  CHECK(back->accept_suites == crypto::SuiteSet{crypto::CipherSuite::AesGcm});
}

TEST_CASE("message 2's payload without the suites byte means ChaCha20-Poly1305 alone",
          "[handshake][payload][suite]") {
  auto p = Message2Payload::decode(hex("01" + kSessionHex));
  REQUIRE(p);
  CHECK(p->session_id == kSession);
  CHECK(p->accept_suites == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
}

TEST_CASE("message 2's payload: unknown suite bits and trailing bytes are dropped", "[handshake][payload]") {
  auto p = Message2Payload::decode(hex("01" + kSessionHex + "fd" + "ffff"));
  REQUIRE(p);
  CHECK(p->wire_version == 1);
  CHECK(p->accept_suites == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
  CHECK_FALSE(p->resumed);
  CHECK(to_hex(p->encode()) == "01" + kSessionHex + "01");
}

TEST_CASE("message 1's payload in version 2: flag 0x01 offers resumption, 0x02 names the session",
          "[handshake][payload][resume]") {
  Message1Payload p;
  p.timestamp = crypto::tai64n_from(kNov2023);
  p.flags = Message1Payload::kFlagSpeaksV2;
  CHECK(to_hex(p.encode()) == "400000006553f10a000000000101");
  p.resume = kSession;
  CHECK(to_hex(p.encode()) == "400000006553f10a000000000103" + kSessionHex);
  auto back = Message1Payload::decode(hex("400000006553f10a000000000103" + kSessionHex + "eeee"));
  REQUIRE(back);
  CHECK(back->wire_version == 1);  // a version 1 relay answers it, ignoring the flags and the id
  CHECK(back->speaks_v2());
  REQUIRE(back->resume);
  CHECK(*back->resume == kSession);
  // A flags byte that names a session with no room for it is malformed, at every length short of it.
  const Bytes whole = hex("400000006553f10a000000000103" + kSessionHex);
  for (std::size_t n = Message1Payload::kBytes; n < whole.size(); ++n) {
    INFO(n << " bytes");
    auto q = Message1Payload::decode(ByteSpan(whole).first(n));
    REQUIRE_FALSE(q);
    CHECK(q.error().code == Errc::Malformed);
  }
}

TEST_CASE("message 2's payload in version 2 adds resume flags and the relay's grace",
          "[handshake][payload][resume]") {
  Message2Payload p;
  p.wire_version = link::kResumableWireVersion;
  p.session_id = kSession;
  p.resumed = true;
  p.grace_s = 90;
  CHECK(to_hex(p.encode()) == "02" + kSessionHex + "01" + "01" + "005a");
  auto back = Message2Payload::decode(hex("02" + kSessionHex + "03" + "00" + "0e10" + "ff"));
  REQUIRE(back);
  CHECK(back->wire_version == 2);
  CHECK_FALSE(back->resumed);
  CHECK(back->grace_s == 3600);
  CHECK(back->accept_suites ==
        crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm});
  // Version 2 needs all four: suites, flags and both grace bytes.
  const Bytes whole = hex("02" + kSessionHex + "01" + "01" + "005a");
  for (std::size_t n = Message2Payload::kMinBytes; n < whole.size(); ++n) {
    INFO(n << " bytes");
    auto q = Message2Payload::decode(ByteSpan(whole).first(n));
    REQUIRE_FALSE(q);
    CHECK(q.error().code == Errc::Malformed);
  }
}

TEST_CASE("message 2's payload shorter than 17 bytes is malformed", "[handshake][payload][bad-input]") {
  require_too_short<Message2Payload>(hex("01" + kSessionHex), "handshake payload 2 is too short");
}
