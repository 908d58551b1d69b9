// Flow control and scheduling: credit, stalled readers, window growth, fairness, bounded memory.
#include <catch2/catch.hpp>

#include "tests/unit/link_harness.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using namespace std::chrono_literals;
using test::Pair;

namespace {

link::StreamId open_stream(Pair& p) {
  auto id = p.agent->mux().open(Target::host("bulk.example", 80));
  REQUIRE(id);
  p.pump();
  return *id;
}

// Decodes one side's next records and returns the stream id of each DATA frame, in order.
std::vector<link::StreamId> data_order(link::Mux& mux, std::size_t budget) {
  Bytes out;
  mux.produce(out, budget);
  std::vector<link::StreamId> order;
  ByteSpan in = out;
  while (!in.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(in, used);
    REQUIRE(f);
    if (f->type == frame::Type::Data) order.push_back(f->stream);
    in = in.subspan(used);
  }
  return order;
}

// Hands `wire` (whole frames) to `mux`, as the session does after decrypting a record.
Result<void> feed(link::Mux& mux, ByteSpan wire) {
  while (!wire.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(wire, used);
    REQUIRE(f);
    if (auto r = mux.on_frame(*f); !r) return r;
    wire = wire.subspan(used);
  }
  return {};
}

std::vector<frame::Type> frame_types(ByteSpan wire) {
  std::vector<frame::Type> types;
  while (!wire.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(wire, used);
    REQUIRE(f);
    types.push_back(f->type);
    wire = wire.subspan(used);
  }
  return types;
}

}  // namespace

TEST_CASE("a stream's DATA never overtakes its OPEN_RESULT, however little room is left", "[mux][order]") {
  // OPEN_RESULT with no reason is 14 bytes; DATA with 1 byte (or a bare FIN) is 9 or 8. With 9 to 13
  // bytes left in a record the OPEN_RESULT does not fit and the DATA would.
  for (std::size_t budget = 8; budget < 14; ++budget) {
    INFO("budget " << budget);
    test::Recorder ev;
    ev.auto_accept = false;
    link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
    Bytes open;
    frame::put_open(open, 1, frame::Open{5000, Target::host("a", 1)});
    REQUIRE(feed(relay, open));
    relay.accept(1, frame::OpenCode::Ok);
    relay.send(1, Bytes{'x'});
    relay.finish(1);
    Bytes out;
    relay.produce(out, budget);
    CHECK(out.empty());  // the control frame waits for the next record, and the DATA behind it
    relay.produce(out, 1000);
    CHECK((frame_types(out) == std::vector{frame::Type::OpenResult, frame::Type::Data}));
  }
}

TEST_CASE("a control backlog over one record does not let DATA overtake its OPEN_RESULT", "[mux][order]") {
  // 5000 OPEN_RESULTs (14 bytes each) fill more than one record; the last accepted stream answers at
  // once. Its OPEN_RESULT goes in the second record, so its DATA must too, or the agent ends the link.
  Pair p([](link::LinkConfig& c) { c.mux.max_streams = 8000; });
  p.start();
  p.relay_events.auto_accept = false;
  for (int i = 0; i < 5000; ++i) REQUIRE(p.agent->mux().open(Target::ipv4({10, 0, 0, 1}, 22)));
  p.pump();
  link::StreamId last = 0;
  for (auto& [id, log] : p.relay_events.streams) {
    p.relay->mux().accept(id, frame::OpenCode::Ok);
    last = id;
  }
  p.relay->mux().send(last, Bytes{'x'});
  p.relay->mux().finish(last);
  p.pump();
  CHECK_FALSE(p.agent_events.closed);
  CHECK(p.agent_events.streams[last].data == Bytes{'x'});
  CHECK(p.agent_events.streams[last].fin);
}

TEST_CASE("DATA before the stream was accepted breaks the link on the relay too", "[mux][order]") {
  test::Recorder ev;
  ev.auto_accept = false;
  ev.auto_consume = false;
  link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
  Bytes wire;
  frame::put_open(wire, 1, frame::Open{5000, Target::host("a", 1)});
  frame::put_open(wire, 3, frame::Open{5000, Target::host("b", 1)});
  frame::put_open(wire, 5, frame::Open{5000, Target::host("c", 1)});
  REQUIRE(feed(relay, wire));
  // The relay is still dialling: not one byte is taken in, nor a bare FIN.
  wire.clear();
  frame::put_data(wire, 1, Bytes(100), false);
  auto early = feed(relay, wire);
  REQUIRE_FALSE(early);
  CHECK(std::string(early.error().what) == "DATA before the stream was accepted");
  wire.clear();
  frame::put_data(wire, 3, {}, true);
  CHECK_FALSE(feed(relay, wire));
  CHECK(ev.streams[1].bytes == 0);
  CHECK_FALSE(ev.streams[3].fin);
  // Once accepted (the OPEN_RESULT is queued), the stream takes DATA within its window.
  relay.accept(5, frame::OpenCode::Ok);
  wire.clear();
  frame::put_data(wire, 5, Bytes(100), true);
  CHECK(feed(relay, wire));
  CHECK(ev.streams[5].bytes == 100);
  CHECK(ev.streams[5].fin);
}

TEST_CASE("a stalled reader stalls only its own stream, and its memory is bounded", "[mux][flow]") {
  Pair p;
  p.start();
  const auto slow = open_stream(p);
  const auto fast = open_stream(p);
  p.relay_events.auto_consume = false;  // nobody reads "slow"...
  Bytes chunk(64 * 1024);
  test::pattern(1, 0, chunk);
  bool slow_paused = false;
  std::uint64_t fast_consumed = 0;
  for (int i = 0; i < 64; ++i) {  // 4 MiB offered on each stream
    if (!slow_paused) slow_paused = !p.agent->mux().send(slow, chunk);
    p.agent->mux().send(fast, chunk);
    p.pump();
    const auto got = p.relay_events.streams[fast].bytes;  // ...but "fast" is read at once
    p.relay->mux().consumed(fast, got - fast_consumed, p.now);
    fast_consumed = got;
    p.pump();
  }
  CHECK(p.relay_events.streams[fast].bytes == 64u * 64 * 1024);
  // The slow stream got exactly its initial window and no more.
  CHECK(p.relay_events.streams[slow].bytes == link::MuxLimits{}.initial_window);
  // The agent stopped reading from its source: the queue is bounded by the high watermark + one read.
  CHECK(slow_paused);
  CHECK(p.agent->mux().queued(slow) <= link::MuxLimits{}.send_high_water + chunk.size());

  // The reader wakes up: credit returns and the queue drains; the owner hears on_writable.
  p.relay->mux().consumed(slow, p.relay_events.streams[slow].bytes, p.now);
  for (int i = 0; i < 20; ++i) {
    p.pump();
    const auto got = p.relay_events.streams[slow].bytes;
    static std::uint64_t done = link::MuxLimits{}.initial_window;
    p.relay->mux().consumed(slow, got - done, p.now);
    done = got;
  }
  CHECK(p.agent->mux().queued(slow) == 0);
  CHECK(std::find(p.agent_events.writable.begin(), p.agent_events.writable.end(), slow) !=
        p.agent_events.writable.end());
}

TEST_CASE("windows grow toward the bandwidth-delay product and are capped", "[mux][flow]") {
  Pair p([](link::LinkConfig& c) {
    c.mux.max_window = 4 * 1024 * 1024;
    c.mux.window_per_rtt_ms = 16 * 1024 * 1024;  // this test is about max_window
  });
  p.start();
  const auto id = open_stream(p);
  const auto initial = p.relay->mux().recv_window(id);
  Bytes chunk(256 * 1024);
  for (int i = 0; i < 200; ++i) {
    p.agent->mux().send(id, chunk);
    p.pump();  // consumed at once, within the same millisecond: the window is the bottleneck
  }
  CHECK(initial == 256 * 1024);
  CHECK(p.relay->mux().recv_window(id) == 4 * 1024 * 1024);

  // A reader that takes its time (many RTTs per half window) does not grow its window.
  const auto id2 = open_stream(p);
  for (int i = 0; i < 50; ++i) {
    p.agent->mux().send(id2, Bytes(64 * 1024));
    p.now += 50ms;
    p.pump();
  }
  CHECK(p.relay->mux().recv_window(id2) == 256 * 1024);
}

TEST_CASE("a window grows to 1 MiB per millisecond of the minimum RTT, and no further", "[mux][flow][hol]") {
  auto fill = [](Pair& p, link::StreamId id) {
    for (int i = 0; i < 200; ++i) {
      p.agent->mux().send(id, Bytes(256 * 1024));
      p.pump();  // read at once, within the same millisecond: the window is the bottleneck
    }
  };
  // The in-memory link's PINGs measure 0 ms, like loopback's: windows stop at 1 MiB.
  Pair p;
  p.start();
  auto& mux = p.relay->mux();
  CHECK(mux.window_cap() == 1024 * 1024);
  const auto fast = open_stream(p);
  fill(p, fast);
  CHECK(mux.recv_window(fast) == 1024 * 1024);

  // Without the kernel's figure the cap follows the smallest of the last four PING samples, rounded up
  // to whole milliseconds: answers that waited behind a queue do not raise it while a small one is
  // among them. (The 0 ms sample of the first PING is the oldest of the four and is pushed out.)
  for (auto rtt : {2ms, 40ms, 40ms, 40ms}) mux.set_rtt(rtt);
  CHECK(mux.window_cap() == 3 * 1024 * 1024);
  fill(p, fast);  // a stream that stopped at the old cap grows again
  CHECK(mux.recv_window(fast) == 2 * 1024 * 1024 + 1024 * 1024);
  for (int i = 0; i < 4; ++i) mux.set_rtt(40ms);  // four samples later: the path really is slower
  CHECK(mux.window_cap() == 16 * 1024 * 1024);    // max_window

  // The kernel's minimum (µs, five minutes of ACKs) takes over: 1.5 ms allows 1.5 MiB. A window that
  // grew past a cap that then fell neither shrinks nor grows.
  mux.set_path_min_rtt(std::chrono::microseconds(1500));
  CHECK(mux.window_cap() == 1536 * 1024);
  fill(p, fast);
  CHECK(mux.recv_window(fast) == 3 * 1024 * 1024);
  const auto next = open_stream(p);
  fill(p, next);
  CHECK(mux.recv_window(next) == 1536 * 1024);
  mux.set_path_min_rtt(std::chrono::microseconds(20));  // loopback: the floor of 1 MiB
  CHECK(mux.window_cap() == 1024 * 1024);
}

TEST_CASE("window growth is bounded per link", "[mux][flow]") {
  Pair p([](link::LinkConfig& c) {
    c.mux.max_window = 8 * 1024 * 1024;
    c.mux.window_per_rtt_ms = 16 * 1024 * 1024;  // this test is about the link's budget
    c.mux.link_growth_budget = 4 * 1024 * 1024;
  });
  p.start();
  std::vector<link::StreamId> ids;
  for (int s = 0; s < 4; ++s) ids.push_back(open_stream(p));
  for (int i = 0; i < 100; ++i)
    for (auto id : ids) {
      p.agent->mux().send(id, Bytes(128 * 1024));
      p.pump();
    }
  std::uint64_t total = 0;
  for (auto id : ids) total += p.relay->mux().recv_window(id) - 256 * 1024;
  CHECK(total <= 4u * 1024 * 1024);
  CHECK(total >= 3u * 1024 * 1024);
}

TEST_CASE("round robin: a bulk stream delays another by at most one frame", "[mux][fairness]") {
  Pair p;
  p.start();
  const auto bulk = open_stream(p);
  const auto ssh = open_stream(p);
  p.agent->mux().send(bulk, Bytes(200 * 1024));
  p.agent->mux().send(ssh, Bytes(40));
  const auto order = data_order(p.agent->mux(), 65000);
  REQUIRE(order.size() >= 2);
  CHECK(order[0] == bulk);
  CHECK(order[1] == ssh);  // behind one 16 KiB frame, not 200 KiB
}

TEST_CASE("data beyond credit breaks the link; exact credit is fine", "[mux][flow]") {
  test::Recorder ev;
  link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{.initial_window = 1000}, ev);
  ev.auto_consume = false;
  Bytes f;
  frame::put_open(f, 1, frame::Open{5000, Target::host("a", 1)});
  frame::put_open(f, 3, frame::Open{5000, Target::host("b", 1)});
  ev.auto_accept = false;
  ByteSpan in = f;
  while (!in.empty()) {
    std::size_t used = 0;
    auto fr = frame::decode(in, used);
    REQUIRE(fr);
    REQUIRE(relay.on_frame(*fr));
    in = in.subspan(used);
  }
  relay.accept(1, frame::OpenCode::Ok);
  relay.accept(3, frame::OpenCode::Ok);
  Bytes d;
  std::size_t used = 0;
  frame::put_data(d, 3, Bytes(1000), false);  // exactly the window
  REQUIRE(relay.on_frame(*frame::decode(d, used)));
  CHECK(ev.streams[3].bytes == 1000);
  CHECK_FALSE(ev.streams[3].reset);
  d.clear();
  frame::put_data(d, 1, Bytes(1001), false);  // one byte over: the peer is broken
  auto over = relay.on_frame(*frame::decode(d, used));
  REQUIRE_FALSE(over);
  CHECK(std::string(over.error().what) == "DATA beyond the granted credit");
  CHECK(ev.streams[1].bytes == 0);
  d.clear();
  frame::put_data(d, 0, Bytes(1), false);  // stream 0 is never a stream
  CHECK_FALSE(relay.on_frame(*frame::decode(d, used)));
  relay.reset(1, frame::ResetCode::Cancel);

  // Frames for a stream never opened break the link; for a stream already gone they are ignored.
  d.clear();
  frame::put_data(d, 9, Bytes(1), false);
  CHECK_FALSE(relay.on_frame(*frame::decode(d, used)));
  d.clear();
  frame::put_data(d, 1, Bytes(1), false);
  CHECK(relay.on_frame(*frame::decode(d, used)));
  // An OPEN with an id that goes backwards is a protocol error.
  d.clear();
  frame::put_open(d, 3, frame::Open{1, Target::host("c", 1)});
  CHECK_FALSE(relay.on_frame(*frame::decode(d, used)));
}

TEST_CASE("10,000 idle streams cost little memory in the table", "[mux][memory]") {
  Pair p([](link::LinkConfig& c) { c.mux.max_streams = 20000; });
  p.start();
  for (int i = 0; i < 10000; ++i) REQUIRE(p.agent->mux().open(Target::ipv4({10, 0, 0, 1}, 80)));
  p.pump();
  CHECK(p.agent->mux().stream_count() == 10000);
  CHECK(p.relay->mux().stream_count() == 10000);
  for (auto& [id, log] : p.agent_events.streams) CHECK(log.result->code == frame::OpenCode::Ok);
}

// docs/protocol.md 4.12: stream ids are odd, increasing and at most 2^31-1, on both sides; OPEN_RESULT
// comes only from the relay; after the agent's GOAWAY no OPEN may follow. Each breach closes the link
// (a failed on_frame: the session sends CLOSE ProtocolError) and names what was wrong.
TEST_CASE("the relay's mux refuses bad stream ids and frames the agent never sends", "[mux][ids]") {
  auto open_frame = [](link::StreamId id) {
    Bytes b;
    frame::put_open(b, id, frame::Open{5000, Target::host("a", 1)});
    return b;
  };
  struct Case {
    const char* what;
    std::vector<Bytes> frames;
    const char* error;
  };
  Bytes goaway;
  frame::put_goaway(goaway, frame::GoAway{1, frame::CloseCode::Shutdown, "going away"});
  Bytes result;
  frame::put_open_result(result, 1, frame::OpenResult{frame::OpenCode::Ok, 100, ""});
  const std::vector<Case> cases = {
      {"an even id", {open_frame(2)}, "OPEN with an even stream id"},
      {"id 2^31+1", {open_frame(0x80000001u)}, "OPEN with a stream id above 2^31-1"},
      {"id 0xFFFFFFFF", {open_frame(0xFFFFFFFFu)}, "OPEN with a stream id above 2^31-1"},
      {"an id repeated", {open_frame(5), open_frame(5)}, "OPEN with a stream id out of order"},
      {"an id going down", {open_frame(7), open_frame(5)}, "OPEN with a stream id out of order"},
      {"OPEN_RESULT from the agent", {open_frame(1), result}, "OPEN_RESULT from the agent"},
      {"OPEN after the agent's GOAWAY",
       {open_frame(1), goaway, open_frame(3)},
       "OPEN after the agent's GOAWAY"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    test::Recorder ev;
    ev.auto_accept = false;
    link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
    Result<void> r;
    for (const Bytes& f : c.frames)
      if (r = feed(relay, f); !r) break;
    REQUIRE_FALSE(r);
    CHECK(std::string(r.error().what) == c.error);
  }
  SECTION("the largest id is fine; the agent's GOAWAY alone changes nothing for open streams") {
    test::Recorder ev;
    ev.auto_accept = false;
    link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
    REQUIRE(feed(relay, open_frame(link::kMaxStreamId)));
    CHECK(relay.stream_count() == 1);
    REQUIRE(feed(relay, goaway));
    CHECK(relay.stream_count() == 1);
  }
}

TEST_CASE("the agent's mux counts the ids left and opens none past 2^31-1", "[mux][ids]") {
  test::Recorder ev;
  link::MuxLimits limits;
  limits.first_stream_id = link::kMaxStreamId - 2;
  link::Mux agent(link::Mux::Side::Initiator, limits, ev);
  CHECK(agent.ids_left() == 2);
  auto a = agent.open(Target::host("a", 1));
  REQUIRE(a);
  CHECK(*a == link::kMaxStreamId - 2);
  auto b = agent.open(Target::host("b", 1));
  REQUIRE(b);
  CHECK(*b == link::kMaxStreamId);
  CHECK(agent.ids_left() == 0);
  auto c = agent.open(Target::host("c", 1));
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::Limit);
}
