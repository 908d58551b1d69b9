// Stream resumption at the mux, over an in-memory link that is lost after every possible byte: two
// resumable muxes move an upload and a download (small frames, small windows, so credit, FINs and
// acknowledgements all cross the wire), the link drops after N bytes one way, everything in flight
// both ways is lost, both sides suspend and resume, and the transfer goes on. For every N, each side
// must receive exactly what the other sent, in order, with its FIN, and both must forget the stream
// at the end. An OPEN lost with the link goes again once the relay's RESUME_DONE shows it never
// arrived, so every run ends with the whole transfer.
#include <catch2/catch.hpp>

#include "common/link/mux.hpp"
#include "common/link/stream_ref.hpp"

using namespace ferry;

namespace {

constexpr std::size_t kUp = 1500;
constexpr std::size_t kDown = 1100;

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 13 + i / 7);
  return b;
}

// One end of a stream: sends its bytes as credit allows, takes the peer's and returns credit at once.
struct End final : link::StreamHandler {
  link::Mux* mux = nullptr;
  link::StreamId id = 0;
  Bytes to_send;
  std::size_t queued = 0;
  Bytes got;
  bool fin = false;
  bool reset = false;
  std::optional<frame::OpenResult> result;

  void pump() {
    while (queued < to_send.size()) {
      const std::size_t n = std::min<std::size_t>(100, to_send.size() - queued);
      const bool more = mux->send(id, ByteSpan(to_send).subspan(queued, n));
      queued += n;
      if (!more) return;
    }
    mux->finish(id);
  }
  void on_open_result(const frame::OpenResult& r) override {
    result = r;
    if (r.code == frame::OpenCode::Ok) pump();
  }
  void on_data(ByteSpan b) override {
    got.insert(got.end(), b.begin(), b.end());
    mux->consumed(id, b.size(), link::Instant(0));
  }
  void on_fin() override { fin = true; }
  void on_reset(frame::ResetCode) override { reset = true; }
  void on_writable() override { pump(); }
};

// The relay's side: accepts the OPEN at once and binds its end.
struct RelayEvents final : link::LinkEvents {
  link::Mux* mux = nullptr;
  End* end = nullptr;
  bool opened = false;
  void on_open(link::StreamId id, const Target&) override {
    opened = true;
    end->mux = mux;
    end->id = id;
    mux->bind(id, end);
    mux->accept(id, frame::OpenCode::Ok);
    end->pump();
  }
  void on_closed(const Error&) override {}
};

struct NoEvents final : link::LinkEvents {
  void on_closed(const Error&) override {}
};

link::MuxLimits small_limits() {
  link::MuxLimits l;
  l.initial_window = 300;
  l.max_window = 600;
  l.max_frame_data = 64;
  l.send_high_water = 400;
  l.send_low_water = 100;
  l.resumable = true;
  return l;
}

// Moves whole frames from `out` into `to`, at most `room` bytes of them; returns the bytes moved.
std::size_t deliver(const Bytes& out, link::Mux& to, std::size_t room) {
  std::size_t at = 0;
  while (at < out.size()) {
    std::size_t used = 0;
    auto f = frame::decode(ByteSpan(out).subspan(at), used);
    REQUIRE(f);
    if (at + used > room) break;  // the rest of the frame was lost with the link
    REQUIRE(to.on_frame(*f));
    at += used;
  }
  return at;
}

struct Run {
  End agent, relay;
  bool lost = false;
  bool relay_saw_open = false;
  std::size_t wire = 0;  // bytes sent, on the side that may lose the link
};

// Runs the transfer; the link is lost once `drop_after` bytes went agent -> relay (or relay -> agent
// with `relay_side`).
Run run(std::size_t drop_after, bool relay_side) {
  Run r;
  NoEvents agent_events;
  RelayEvents relay_events;
  link::Mux agent(link::Mux::Side::Initiator, small_limits(), agent_events);
  link::Mux relay(link::Mux::Side::Responder, small_limits(), relay_events);
  relay_events.mux = &relay;
  relay_events.end = &r.relay;
  r.agent.mux = &agent;
  r.agent.to_send = pattern(kUp, 1);
  r.relay.to_send = pattern(kDown, 99);
  auto id = agent.open(Target::host("resume.test", 80));
  REQUIRE(id);
  r.agent.id = *id;
  agent.bind(*id, &r.agent);

  std::size_t counted = 0;  // bytes sent so far on the side that loses the link
  for (int round = 0; round < 10'000; ++round) {
    Bytes a, b;
    agent.produce(a, 512);
    relay.produce(b, 512);
    if (a.empty() && b.empty()) {
      agent.acknowledge();
      relay.acknowledge();
      if (!agent.has_output() && !relay.has_output()) break;
      continue;
    }
    Bytes& lossy = relay_side ? b : a;
    if (!r.lost && counted + lossy.size() > drop_after) {
      // The link is lost after drop_after bytes: the frames before it arrived, nothing else did.
      deliver(lossy, relay_side ? agent : relay, drop_after - counted);
      r.lost = true;
      agent.suspend();
      relay.suspend();
      agent.resume();
      relay.resume();
      continue;
    }
    counted += lossy.size();
    deliver(a, relay, SIZE_MAX);
    deliver(b, agent, SIZE_MAX);
  }
  r.relay_saw_open = relay_events.opened;
  r.wire = counted;
  CHECK(agent.stream_count() == 0);
  CHECK(relay.stream_count() == 0);
  CHECK(agent.retained_bytes() == 0);
  CHECK(relay.retained_bytes() == 0);
  return r;
}

void check_whole(const Run& r) {
  REQUIRE(r.agent.result);
  CHECK(r.agent.result->code == frame::OpenCode::Ok);
  CHECK(r.relay_saw_open);
  CHECK_FALSE(r.agent.reset);
  CHECK_FALSE(r.relay.reset);
  CHECK(r.relay.got == pattern(kUp, 1));
  CHECK(r.agent.got == pattern(kDown, 99));
  CHECK(r.relay.fin);
  CHECK(r.agent.fin);
}

}  // namespace

TEST_CASE("resumption: without a lost link, the transfer completes and both sides forget the stream",
          "[mux][resume]") {
  Run r = run(SIZE_MAX, false);
  CHECK_FALSE(r.lost);
  check_whole(r);
}

TEST_CASE("resumption: a link lost after any byte agent -> relay loses, repeats and reorders nothing",
          "[mux][resume]") {
  // The whole agent -> relay wire of an undisturbed run, and a little beyond.
  const std::size_t wire = run(SIZE_MAX, false).wire;
  REQUIRE(wire > kUp);
  for (std::size_t n = 0; n <= wire; ++n) {
    INFO("lost after " << n << " bytes from the agent");
    check_whole(run(n, false));
  }
}

TEST_CASE("resumption: an OPEN lost with the link goes again, and the stream carries on", "[mux][resume]") {
  Run r = run(0, false);  // nothing of the agent's arrived, its OPEN included
  CHECK(r.lost);
  check_whole(r);
}

TEST_CASE("resumption: a link lost after any byte relay -> agent loses, repeats and reorders nothing",
          "[mux][resume]") {
  const std::size_t wire = run(SIZE_MAX, true).wire;
  REQUIRE(wire > kDown);
  for (std::size_t n = 0; n <= wire; ++n) {
    INFO("lost after " << n << " bytes from the relay");
    check_whole(run(n, true));
  }
}

TEST_CASE("resumption: OPENs lost with the link go again in id order, which the relay requires",
          "[mux][resume]") {
  struct Opens final : link::LinkEvents {
    link::Mux* mux = nullptr;
    std::vector<link::StreamId> ids;
    void on_open(link::StreamId id, const Target&) override {
      ids.push_back(id);
      mux->accept(id, frame::OpenCode::Ok);
    }
    void on_closed(const Error&) override {}
  } relay_events;
  NoEvents agent_events;
  link::Mux agent(link::Mux::Side::Initiator, small_limits(), agent_events);
  link::Mux relay(link::Mux::Side::Responder, small_limits(), relay_events);
  relay_events.mux = &relay;
  std::vector<End> ends(8);
  ends.reserve(9);  // bound by address: no reallocation
  for (End& e : ends) {
    auto id = agent.open(Target::host("resume.test", 80));
    REQUIRE(id);
    e.mux = &agent;
    e.id = *id;
    agent.bind(*id, &e);
  }
  Bytes lost;
  agent.produce(lost, SIZE_MAX);  // every OPEN, gone with the link
  REQUIRE_FALSE(lost.empty());
  agent.suspend();
  relay.suspend();
  agent.resume();
  relay.resume();
  // A client asks for one more stream on the resumed link before the relay's RESUME_DONE has said
  // which OPENs it never saw: its id is above theirs, so it must not reach the relay before them.
  ends.emplace_back();
  auto late = agent.open(Target::host("resume.test", 80));
  REQUIRE(late);
  ends.back().mux = &agent;
  ends.back().id = *late;
  agent.bind(*late, &ends.back());
  for (int round = 0; round < 100; ++round) {
    Bytes a, b;
    agent.produce(a, SIZE_MAX);
    relay.produce(b, SIZE_MAX);
    if (a.empty() && b.empty()) break;
    deliver(a, relay, SIZE_MAX);
    deliver(b, agent, SIZE_MAX);
  }
  REQUIRE(relay_events.ids.size() == ends.size());
  CHECK(std::is_sorted(relay_events.ids.begin(), relay_events.ids.end()));
  for (const End& e : ends) {
    REQUIRE(e.result);
    CHECK(e.result->code == frame::OpenCode::Ok);
    CHECK_FALSE(e.reset);
  }
}
