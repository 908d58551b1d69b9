// The control queue shared by LinkSession and Mux: whole frames out, in order, within a bound.
#include "common/link/control_queue.hpp"

#include <catch2/catch.hpp>

#include "common/codec/link_frame.hpp"

using namespace ferry;

TEST_CASE("control queue: whole frames leave in order, none is split", "[control_queue]") {
  link::ControlQueue q(1024 * 1024);
  CHECK(q.empty());
  Bytes expect;
  for (std::uint64_t i = 0; i < 10; ++i) {
    frame::put_ping(expect, i, false);  // 16 bytes each
    q.append([&](Bytes& b) { frame::put_ping(b, i, false); });
  }
  CHECK(q.size() == 160);
  Bytes out{0xAA};                  // whatever the record already holds stays in front
  CHECK(q.move_to(out, 40) == 32);  // two frames fit in 40 bytes, the third does not
  CHECK(q.size() == 128);
  CHECK(q.move_to(out, 15) == 0);  // not even one
  CHECK(q.move_to(out, 1000) == 128);
  CHECK(q.empty());
  CHECK(out.size() == 161);
  CHECK((Bytes(out.begin() + 1, out.end()) == expect));
  // Drained, it is reusable.
  q.append([&](Bytes& b) { frame::put_reset(b, 7, frame::ResetCode::Cancel); });
  out.clear();
  CHECK(q.move_to(out, 1000) == 9);
  CHECK(out == Bytes{0x05, 0x00, 0, 0, 0, 7, 0, 1, 0});
}

TEST_CASE("control queue: push fails past the bound, append does not judge", "[control_queue]") {
  link::ControlQueue q(48);
  for (int i = 0; i < 3; ++i) REQUIRE(q.push([](Bytes& b) { frame::put_ping(b, 1, true); }));
  CHECK(q.within_bound());
  auto over = q.push([](Bytes& b) { frame::put_ping(b, 1, true); });
  REQUIRE_FALSE(over);
  CHECK(over.error().code == Errc::Limit);
  CHECK(q.size() == 64);  // queued anyway: the caller ends the link
  q.append([](Bytes& b) { frame::put_close(b, frame::CloseInfo{frame::CloseCode::ProtocolError, "x"}); });
  CHECK_FALSE(q.within_bound());
  Bytes out;
  q.move_to(out, 16);  // the peer reads again: back within the bound
  CHECK(q.size() == 59);
  CHECK_FALSE(q.within_bound());
  q.move_to(out, 16);
  CHECK(q.within_bound());
}
