#include "common/codec/link_frame.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::hex;
using test::to_hex;

TEST_CASE("frame bytes match docs/protocol.md", "[frame]") {
  Bytes out;
  frame::put_open(out, 1, frame::Open{0x40000, Target::host("example.com", 443)});
  CHECK(to_hex(out) ==
        "01"
        "00"
        "00000001"
        "0013"      // OPEN, flags 0, stream 1, 19 bytes
        "00040000"  // window 256 KiB
        "03"
        "0b"
        "6578616d706c652e636f6d"  // name, 11 bytes
        "01bb");                  // port 443
  out.clear();
  frame::put_open(out, 3, frame::Open{0x10000, Target::ipv4({192, 0, 2, 1}, 80)});
  CHECK(to_hex(out) ==
        "01"
        "00"
        "00000003"
        "000b"
        "00010000"
        "01"
        "c0000201"
        "0050");
  out.clear();
  frame::put_data(out, 5, Bytes{'h', 'i'}, true);
  CHECK(to_hex(out) ==
        "0301000000050002"
        "6869");
  out.clear();
  frame::put_window(out, 5, {65536, 131072});
  CHECK(to_hex(out) ==
        "040000000005000c"
        "00010000"
        "0000000000020000");
  out.clear();
  frame::put_open_result(out, 1, {frame::OpenCode::Denied, 0, "rule 3"});
  CHECK(to_hex(out) ==
        "020000000001000c"
        "05"
        "00000000"
        "06"
        "72756c652033");
  out.clear();
  frame::put_ping(out, 0x0102030405060708ull, true);
  CHECK(to_hex(out) ==
        "0601000000000008"
        "0102030405060708");
  out.clear();
  frame::put_key_update(out, frame::KeyUpdateKind::Rekey);
  CHECK(to_hex(out) == "080000000000000100");
}

TEST_CASE("every frame type round-trips", "[frame]") {
  Bytes rec;
  frame::put_open(
      rec, 1,
      frame::Open{1000, Target::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 22)});
  frame::put_open_result(rec, 1, {frame::OpenCode::Ok, 5000, ""});
  frame::put_data(rec, 1, Bytes(300, 0xAB), false);
  frame::put_data(rec, 1, {}, true);
  frame::put_window(rec, 1, {77, 88});
  frame::put_reset(rec, 1, frame::ResetCode::IdleTimeout);
  frame::put_ping(rec, 42, false);
  frame::put_goaway(rec, {9, frame::CloseCode::Shutdown, "draining"});
  frame::put_key_update(rec, frame::KeyUpdateKind::NewHandshake);
  frame::put_rehandshake(rec, Bytes(110, 7));
  frame::put_close(rec, {frame::CloseCode::Normal, "bye"});

  ByteSpan in = rec;
  std::vector<frame::Frame> frames;
  while (!in.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(in, used);
    REQUIRE(f);
    REQUIRE(used > 0);
    frames.push_back(*f);
    in = in.subspan(used);
  }
  REQUIRE(frames.size() == 11);
  auto open = frame::parse_open(frames[0].payload);
  REQUIRE(open);
  CHECK(open->window == 1000);
  CHECK(open->target.to_string() == "[2001:db8::1]:22");
  auto result = frame::parse_open_result(frames[1].payload);
  REQUIRE(result);
  CHECK((result->code == frame::OpenCode::Ok && result->window == 5000 && result->reason.empty()));
  CHECK(frames[2].payload.size() == 300);
  CHECK(frames[3].flags == frame::kFlagFin);
  CHECK(frames[3].payload.empty());
  auto w = frame::parse_window(frames[4].payload);
  REQUIRE(w);
  CHECK((w->increment == 77 && w->delivered == 88));
  CHECK(*frame::parse_reset(frames[5].payload) == frame::ResetCode::IdleTimeout);
  CHECK(*frame::parse_ping(frames[6].payload) == 42);
  auto g = frame::parse_goaway(frames[7].payload);
  REQUIRE(g);
  CHECK((g->last_stream == 9 && g->reason == "draining"));
  CHECK(*frame::parse_key_update(frames[8].payload) == frame::KeyUpdateKind::NewHandshake);
  CHECK(frames[9].payload.size() == 110);
  auto c = frame::parse_close(frames[10].payload);
  REQUIRE(c);
  CHECK(c->reason == "bye");
}

TEST_CASE("a frame cut at any point is refused, never read past", "[frame]") {
  Bytes rec;
  frame::put_open(rec, 1, frame::Open{1000, Target::host("a.example", 80)});
  for (std::size_t cut = 0; cut < rec.size(); ++cut) {
    INFO("cut " << cut);
    std::size_t used = 0;
    auto f = frame::decode(ByteSpan(rec).first(cut), used);
    if (f) {  // the header survived: the payload must then fail to parse
      CHECK_FALSE(frame::parse_open(f->payload));
    }
  }
  // The payload parser too: every prefix of the OPEN payload is malformed.
  const ByteSpan payload = ByteSpan(rec).subspan(frame::kHeaderBytes);
  for (std::size_t cut = 0; cut < payload.size(); ++cut) CHECK_FALSE(frame::parse_open(payload.first(cut)));
}

TEST_CASE("bad frames: unknown type, bad names, trailing bytes, bad codes", "[frame]") {
  std::size_t used = 0;
  CHECK_FALSE(
      frame::decode(hex("0e00000000010000"), used));  // type 0x0e (0x0b, 0x0c: version 2; 0x0d ROUTES)
  CHECK_FALSE(frame::decode(hex("0000000000010000"), used));  // type 0
  CHECK_FALSE(frame::decode(hex("0500000000"), used));  // 5 bytes: a short id must not let a length "fit"
  CHECK_FALSE(
      frame::parse_open(hex("00001000"
                            "03"
                            "00"
                            "0050")));  // empty name
  CHECK_FALSE(
      frame::parse_open(hex("00001000"
                            "03"
                            "03"
                            "612062"
                            "0050")));  // "a b": a space
  CHECK_FALSE(
      frame::parse_open(hex("00001000"
                            "03"
                            "02"
                            "610a"
                            "0050")));  // a newline
  CHECK_FALSE(
      frame::parse_open(hex("00001000"
                            "05"
                            "7f000001"
                            "0050")));  // atyp 5
  CHECK_FALSE(
      frame::parse_open(hex("00001000"
                            "01"
                            "7f000001"
                            "0050"
                            "00")));  // trailing byte
  CHECK_FALSE(
      frame::parse_open_result(hex("09"
                                   "00000000"
                                   "00")));  // code 9
  CHECK_FALSE(frame::parse_window(hex("00000001")));
  CHECK_FALSE(frame::parse_key_update(hex("02")));
  CHECK_FALSE(
      frame::parse_close(hex("00"
                             "05"
                             "6162")));  // reason cut short
}

TEST_CASE("RESUME and RESUME_DONE: byte layout, and what a RESUME may not say", "[frame][resume]") {
  Bytes out;
  frame::put_resume(out, 5, frame::kResumeOpened | frame::kResumeFinReceived,
                    frame::Resume{0x20000, 0x60000});
  CHECK(out == hex("0b03000000050010"
                   "0000000000020000"
                   "0000000000060000"));
  std::size_t used = 0;
  auto f = frame::decode(out, used);
  REQUIRE(f);
  CHECK(f->type == frame::Type::Resume);
  auto r = frame::parse_resume(f->payload);
  REQUIRE(r);
  CHECK(r->received == 0x20000);
  CHECK(r->allowed == 0x60000);
  CHECK_FALSE(frame::parse_resume(hex("00000000000600000000000000020000")));  // allows less than received
  CHECK_FALSE(frame::parse_resume(hex("000000000002000000000000000600")));    // 15 bytes
  Bytes done;
  frame::put_resume_done(done);
  CHECK(done == hex("0c00000000000000"));
}

TEST_CASE("ROUTES: bytes, round trip, and what is refused", "[frame][routes]") {
  Bytes out;
  frame::put_routes(out, frame::Routes{0x3f2a9c01, {"a.corp", "10.0.0.0/8"}});
  // type 0x0D, flags 0, stream 0, length 24 | version | count 2 | 6 "a.corp" | 10 "10.0.0.0/8"
  CHECK(to_hex(out) ==
        "0d0000000000"
        "0018"
        "3f2a9c01"
        "0002"
        "06612e636f7270"
        "0a31302e302e302e302f38");
  std::size_t used = 0;
  auto f = frame::decode(out, used);
  REQUIRE(f);
  CHECK(f->type == frame::Type::Routes);
  auto r = frame::parse_routes(f->payload);
  REQUIRE(r);
  CHECK(*r == frame::Routes{0x3f2a9c01, {"a.corp", "10.0.0.0/8"}});
  auto empty = frame::parse_routes(hex("000000010000"));
  REQUIRE(empty);
  CHECK(empty->version == 1);
  CHECK(empty->entries.empty());
  for (const char* bad : {"000000", "000000010001", "00000001000100", "0000000100010561", "0000000100010120",
                          "000000010001017f", "00000001000000"}) {
    INFO(bad);
    CHECK_FALSE(frame::parse_routes(hex(bad)));
  }
  // A list longer than one frame holds is cut at the last whole entry that fits.
  frame::Routes big{7, std::vector<std::string>(400, std::string(200, 'x'))};
  Bytes cut;
  frame::put_routes(cut, big);
  auto g = frame::decode(cut, used);
  REQUIRE(g);
  auto r2 = frame::parse_routes(g->payload);
  REQUIRE(r2);
  CHECK(r2->entries.size() == (frame::kMaxRoutesPayload - 6) / 201);
  CHECK(frame::routes_payload_size(r2->entries) <= frame::kMaxRoutesPayload);
}
