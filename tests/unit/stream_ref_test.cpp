// Typed stream delivery: a handler bound to a stream gets its events straight from the mux; a reset
// before the relay answered is a failed open result; a StreamRef of a link that went away does
// nothing, even when a new link reuses the stream's id.
#include "common/link/stream_ref.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/link_harness.hpp"
#include "tests/unit/split_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::as_bytes;
using test::Pair;

namespace {

struct Handler final : link::StreamHandler {
  std::optional<link::StreamRef> sent;
  std::vector<frame::OpenResult> results;
  Bytes data;
  bool fin = false;
  std::optional<frame::ResetCode> reset;
  int writable = 0;

  void on_open_sent(const link::StreamRef& ref) override { sent = ref; }
  void on_open_result(const frame::OpenResult& r) override { results.push_back(r); }
  void on_data(ByteSpan b) override { data.insert(data.end(), b.begin(), b.end()); }
  void on_fin() override { fin = true; }
  void on_reset(frame::ResetCode c) override { reset = c; }
  void on_writable() override { ++writable; }
};

// A link whose mux can be swapped for another (a reconnect), as the agent's LinkClient does.
struct SwappableLink final : link::StreamLink {
  link::Mux* current = nullptr;
  std::uint64_t generation = 0;
  link::Mux* mux_of(std::uint64_t g) noexcept override { return g == generation ? current : nullptr; }
};

link::StreamId open_bound(Pair& p, Handler& h, const std::string& host = "bound.example") {
  auto id = p.agent->mux().open(Target::host(host, 80));
  REQUIRE(id);
  p.agent->mux().bind(*id, &h);
  return *id;
}

}  // namespace

TEST_CASE("a bound handler gets its stream's events; the link's events get none of them", "[stream_ref]") {
  Pair p;
  p.start();
  Handler h;
  const link::StreamId id = open_bound(p, h);
  p.pump();
  REQUIRE(h.results.size() == 1);
  CHECK(h.results[0].code == frame::OpenCode::Ok);
  p.relay->mux().send(id, as_bytes("hello"));
  p.relay->mux().finish(id);
  p.pump();
  CHECK(std::string(h.data.begin(), h.data.end()) == "hello");
  CHECK(h.fin);
  CHECK_FALSE(h.reset);
  // Nothing reached the agent's LinkEvents for this stream.
  CHECK(p.agent_events.streams.count(id) == 0);
}

TEST_CASE("a stream reset before the relay answered reaches its handler as a failed open result",
          "[stream_ref]") {
  SECTION("the relay resets it while it dials") {
    Pair p;
    p.relay_events.auto_accept = false;
    p.start();
    Handler h;
    const link::StreamId id = open_bound(p, h);
    p.pump();
    p.relay->mux().reset(id, frame::ResetCode::Cancel);
    p.pump();
    REQUIRE(h.results.size() == 1);
    CHECK(h.results[0].code == frame::OpenCode::Failure);
    CHECK(h.results[0].reason == "the relay reset the stream before it answered");
    CHECK_FALSE(h.reset);
  }
  SECTION("the link goes down before the answer") {
    Pair p;
    p.relay_events.auto_accept = false;
    p.start();
    Handler h;
    open_bound(p, h);
    p.pump();
    p.agent->close(frame::CloseCode::Normal, "test");
    REQUIRE(h.results.size() == 1);
    CHECK(h.results[0].code == frame::OpenCode::Failure);
    CHECK(h.results[0].reason == "the link to the relay went down");
  }
  SECTION("an answered stream whose link goes down is reset") {
    Pair p;
    p.start();
    Handler h;
    open_bound(p, h);
    p.pump();
    REQUIRE(h.results.size() == 1);
    p.agent->close(frame::CloseCode::Normal, "test");
    CHECK(h.results.size() == 1);
    CHECK(h.reset == frame::ResetCode::Shutdown);
  }
}

TEST_CASE("a StreamRef reaches its stream, and does nothing once its link is gone", "[stream_ref]") {
  Pair first;
  first.start();
  Handler h;
  const link::StreamId id = open_bound(first, h);
  first.pump();
  SwappableLink link_of_agent;
  link_of_agent.current = &first.agent->mux();
  link::StreamRef ref(link_of_agent, link_of_agent.generation, id);
  CHECK(ref.mux() == &first.agent->mux());
  CHECK(ref.send(as_bytes("up")));
  ref.finish();
  first.pump();
  CHECK(first.relay_events.streams[id].fin);

  // A reconnect: a new link (generation 1) whose first stream has the same id.
  Pair second;
  second.start();
  Handler h2;
  REQUIRE(open_bound(second, h2) == id);
  second.pump();
  link_of_agent.current = &second.agent->mux();
  link_of_agent.generation = 1;
  CHECK(ref.mux() == nullptr);
  CHECK(ref.send(as_bytes("stale")));  // taken and dropped: nothing to pause for
  ref.consumed(1000, link::Instant(0));
  ref.reset(frame::ResetCode::Cancel);
  CHECK_FALSE(ref.attached());
  second.pump();
  // The new link's stream saw none of it.
  CHECK(second.relay_events.streams[id].bytes == 0);
  CHECK_FALSE(second.relay_events.streams[id].reset);
  CHECK(second.agent->mux().stream_count() == 1);
}

TEST_CASE("leave() unbinds a handler and lets the stream finish on its own", "[stream_ref]") {
  Pair p;
  p.start();
  Handler h;
  const link::StreamId id = open_bound(p, h);
  p.pump();
  link::StreamRef ref(p.agent->mux(), 0, id);
  ref.send(as_bytes("last words"));
  ref.finish();
  ref.leave();  // the handler goes away; the bytes and the FIN still go out
  p.relay->mux().send(id, as_bytes("reply"));
  p.pump();
  CHECK(h.data.empty());
  CHECK(p.relay_events.streams[id].fin);
  CHECK(p.agent_events.streams[id].bytes == 5);  // unbound: the link's events get them
}
