// Early data (docs/protocol.md 4.4): on a link whose handshake agreed on it, the agent's first bytes
// of a stream follow its OPEN before the relay answers, within a fixed allowance, and the relay holds
// them while it dials. Negotiation, credit counted alike on both sides, refusals, resumption.
#include <catch2/catch.hpp>

#include "common/link/handshake_payload.hpp"
#include "tests/unit/link_harness.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::frames_of;
using test::Pair;

namespace {

Result<void> feed(link::Mux& mux, const Bytes& wire) {
  for (const frame::Frame& f : frames_of(wire))
    if (auto r = mux.on_frame(f); !r) return r;
  return {};
}

std::size_t data_bytes(const Bytes& wire) {
  std::size_t n = 0;
  for (const frame::Frame& f : frames_of(wire))
    if (f.type == frame::Type::Data) n += f.payload.size();
  return n;
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

link::MuxLimits early_limits() {
  link::MuxLimits l;
  l.early_data = true;
  return l;
}

}  // namespace

TEST_CASE("message 2's features byte: early data in version 1 and version 2 answers", "[early][handshake]") {
  link::Message2Payload p;
  p.session_id.fill(0x11);
  p.early_data = true;
  // Version 1: the resume fields are zeros, present only to reach the features byte.
  Bytes v1 = p.encode();
  CHECK(v1.size() == 22);
  CHECK(test::to_hex(ByteSpan(v1).subspan(17)) == "0100000001");
  auto d1 = link::Message2Payload::decode(v1);
  REQUIRE(d1);
  CHECK(d1->early_data);
  CHECK_FALSE(d1->resumed);
  CHECK(d1->grace_s == 0);
  // Without the feature a version 1 answer is what it always was: 18 bytes.
  p.early_data = false;
  CHECK(p.encode().size() == 18);
  auto plain = link::Message2Payload::decode(p.encode());
  REQUIRE(plain);
  CHECK_FALSE(plain->early_data);
  // Version 2: after the grace.
  p.wire_version = link::kResumableWireVersion;
  p.grace_s = 90;
  p.resumed = true;
  p.early_data = true;
  Bytes v2 = p.encode();
  CHECK(test::to_hex(ByteSpan(v2).subspan(17)) == "0101005a01");
  auto d2 = link::Message2Payload::decode(v2);
  REQUIRE(d2);
  CHECK(d2->early_data);
  CHECK(d2->resumed);
  CHECK(d2->grace_s == 90);
  // An older version 2 relay's answer, 21 bytes: no early data.
  v2.pop_back();
  auto old = link::Message2Payload::decode(v2);
  REQUIRE(old);
  CHECK_FALSE(old->early_data);
  // Unknown feature bits are ignored.
  v2.push_back(0xfe);
  CHECK_FALSE(link::Message2Payload::decode(v2)->early_data);
}

TEST_CASE("message 1's flag 0x10 offers early data", "[early][handshake]") {
  link::Message1Payload p;
  p.flags = link::Message1Payload::kFlagSpeaksV2 | link::Message1Payload::kFlagTakesRoutes |
            link::Message1Payload::kFlagEarlyData;
  Bytes b = p.encode();
  CHECK(b[13] == 0x19);
  auto d = link::Message1Payload::decode(b);
  REQUIRE(d);
  CHECK(d->sends_early_data());
}

TEST_CASE("early data is agreed only when both sides want it", "[early][handshake]") {
  for (int agent_wants = 0; agent_wants < 2; ++agent_wants)
    for (int relay_wants = 0; relay_wants < 2; ++relay_wants)
      for (int resumable = 0; resumable < 2; ++resumable) {
        INFO("agent " << agent_wants << " relay " << relay_wants << " resumable " << resumable);
        Pair p([&](link::LinkConfig& c) {
          const bool agent = c.role == link::LinkConfig::Role::Initiator;
          c.early_data = agent ? agent_wants : relay_wants;
          c.resumable = resumable;
          c.grace_s = resumable ? 90 : 0;
        });
        p.start();
        REQUIRE(p.agent_events.established);
        const bool agreed = agent_wants && relay_wants;
        CHECK(p.agent->mux().early_data() == agreed);
        CHECK(p.relay->mux().early_data() == agreed);
        CHECK(p.agent->resumable() == bool(resumable));
      }
}

TEST_CASE("the agent's first bytes follow the OPEN before the answer; the relay gets them while it dials",
          "[early][mux]") {
  Pair p;
  p.start();
  p.relay_events.auto_accept = false;
  link::Mux& agent = p.agent->mux();
  auto id = agent.open(Target::host("warm.example", 443));
  REQUIRE(id);
  const Bytes hello = bytes_of("a TLS ClientHello, say");
  agent.send(*id, hello);
  agent.finish(*id);
  // OPEN and the DATA with FIN leave in the same record.
  Bytes out;
  p.agent->produce(out, 1 << 20);
  p.relay->receive(out, p.now);
  CHECK_FALSE(p.relay_events.closed);
  CHECK(p.relay_events.streams[*id].target);
  CHECK(p.relay_events.streams[*id].data == hello);
  CHECK(p.relay_events.streams[*id].fin);
  p.relay->mux().accept(*id, frame::OpenCode::Ok);
  p.relay->mux().send(*id, bytes_of("ServerHello"));
  p.relay->mux().finish(*id);
  p.pump();
  CHECK(p.agent_events.streams[*id].result->code == frame::OpenCode::Ok);
  CHECK(p.agent_events.streams[*id].data == bytes_of("ServerHello"));
  CHECK_FALSE(p.agent_events.closed);
}

TEST_CASE("before the answer at most 16 KiB leave; the window then counts from the first byte",
          "[early][mux]") {
  test::Recorder agent_ev, relay_ev;
  relay_ev.auto_accept = false;
  relay_ev.auto_consume = false;
  relay_ev.keep_data = false;
  link::Mux agent(link::Mux::Side::Initiator, early_limits(), agent_ev);
  link::Mux relay(link::Mux::Side::Responder, early_limits(), relay_ev);
  // Moves everything the agent may send now to the relay; returns the DATA bytes.
  auto drain = [&] {
    std::size_t n = 0;
    for (int i = 0; i < 1000; ++i) {
      Bytes wire;
      agent.produce(wire, 1 << 20);
      if (wire.empty()) break;
      n += data_bytes(wire);
      REQUIRE(feed(relay, wire));
    }
    return n;
  };
  auto id = agent.open(Target::host("warm.example", 443));
  REQUIRE(id);
  agent.send(*id, Bytes(100 * 1024, 'x'));
  CHECK(drain() == link::kEarlyDataBytes);
  CHECK(relay_ev.streams[*id].bytes == link::kEarlyDataBytes);
  // The answer's window (256 KiB) counts the early bytes already sent: 240 KiB more may go.
  relay.accept(*id, frame::OpenCode::Ok);
  Bytes answer;
  relay.produce(answer, 1 << 20);
  REQUIRE(feed(agent, answer));
  CHECK(drain() == 100 * 1024 - link::kEarlyDataBytes);  // the rest of the first send
  agent.send(*id, Bytes(300 * 1024, 'z'));
  CHECK(drain() == link::MuxLimits{}.initial_window - 100 * 1024);
  CHECK(relay_ev.streams[*id].bytes == link::MuxLimits{}.initial_window);  // not a byte beyond
}

TEST_CASE("one byte beyond the early allowance closes the link", "[early][mux]") {
  test::Recorder ev;
  ev.auto_accept = false;
  ev.auto_consume = false;
  ev.keep_data = false;
  link::Mux relay(link::Mux::Side::Responder, early_limits(), ev);
  Bytes wire;
  frame::put_open(wire, 1, frame::Open{1 << 18, Target::host("warm.example", 443)});
  frame::put_data(wire, 1, Bytes(link::kEarlyDataBytes, 'x'), false);
  REQUIRE(feed(relay, wire));
  CHECK(ev.streams[1].bytes == link::kEarlyDataBytes);
  Bytes extra;
  frame::put_data(extra, 1, Bytes(1, 'y'), false);
  auto over = feed(relay, extra);
  REQUIRE_FALSE(over);
  CHECK(std::string(over.error().what) == "DATA beyond the granted credit");
}

TEST_CASE("an answer crossing early data still in flight is counted alike on both sides", "[early][mux]") {
  test::Recorder agent_ev, relay_ev;
  relay_ev.auto_accept = false;
  relay_ev.keep_data = false;
  relay_ev.auto_consume = false;
  link::Mux agent(link::Mux::Side::Initiator, early_limits(), agent_ev);
  link::Mux relay(link::Mux::Side::Responder, early_limits(), relay_ev);
  link::MuxLimits small = early_limits();
  auto id = agent.open(Target::host("warm.example", 443));
  REQUIRE(id);
  Bytes open;
  agent.produce(open, 1 << 20);  // the OPEN alone
  REQUIRE(feed(relay, open));
  agent.send(*id, Bytes(10000, 'x'));
  Bytes in_flight;
  agent.produce(in_flight, 1 << 20);  // 10000 early bytes, not yet at the relay
  relay.accept(*id, frame::OpenCode::Ok);
  Bytes answer;
  relay.produce(answer, 1 << 20);
  REQUIRE(feed(relay, in_flight));  // they arrive after the relay answered
  REQUIRE(feed(agent, answer));
  agent.send(*id, Bytes(400 * 1024, 'y'));
  for (int i = 0; i < 1000; ++i) {
    Bytes wire;
    agent.produce(wire, 1 << 20);
    if (wire.empty()) break;
    REQUIRE(feed(relay, wire));  // never beyond the relay's credit
  }
  CHECK(relay_ev.streams[*id].bytes == small.initial_window);
}

TEST_CASE("a refused stream's early data is dropped, and what was still in flight is ignored",
          "[early][mux]") {
  Pair p;
  p.start();
  p.relay_events.auto_accept = false;
  auto id = p.agent->mux().open(Target::host("denied.example", 443));
  REQUIRE(id);
  p.agent->mux().send(*id, bytes_of("GET / HTTP/1.1\r\n\r\n"));
  Bytes out;
  p.agent->produce(out, 1 << 20);
  p.relay->receive(out, p.now);
  p.relay->mux().accept(*id, frame::OpenCode::Denied, "rule 3");
  p.agent->mux().send(*id, bytes_of("more"));  // crosses the refusal
  p.pump();
  CHECK_FALSE(p.relay_events.closed);
  CHECK_FALSE(p.agent_events.closed);
  REQUIRE(p.agent_events.streams[*id].result);
  CHECK(p.agent_events.streams[*id].result->code == frame::OpenCode::Denied);
  CHECK(p.relay->mux().stream_count() == 0);
  CHECK(p.agent->mux().stream_count() == 0);
}

TEST_CASE("without agreement, DATA before the answer still breaks the link", "[early][mux]") {
  test::Recorder ev;
  ev.auto_accept = false;
  link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
  Bytes wire;
  frame::put_open(wire, 1, frame::Open{5000, Target::host("a", 1)});
  frame::put_data(wire, 1, Bytes(10), false);
  auto r = feed(relay, wire);
  REQUIRE_FALSE(r);
  CHECK(std::string(r.error().what) == "DATA before the stream was accepted");
  // And an agent never receives DATA before its answer, early data or not.
  test::Recorder aev;
  link::Mux agent(link::Mux::Side::Initiator, early_limits(), aev);
  auto id = agent.open(Target::host("a", 1));
  REQUIRE(id);
  Bytes down;
  frame::put_data(down, *id, Bytes(10), false);
  auto a = feed(agent, down);
  REQUIRE_FALSE(a);
  CHECK(std::string(a.error().what) == "DATA before OPEN_RESULT");
}

TEST_CASE("resumption: early data lost with its OPEN goes again behind the new OPEN", "[early][resume]") {
  struct Relay final : link::LinkEvents {
    link::Mux* mux = nullptr;
    Bytes got;
    bool fin = false;
    int opens = 0;
    void on_open(link::StreamId id, const Target&) override {
      ++opens;
      mux->accept(id, frame::OpenCode::Ok);
    }
    void on_data(link::StreamId id, ByteSpan b) override {
      got.insert(got.end(), b.begin(), b.end());
      mux->consumed(id, b.size(), link::Instant(0));
    }
    void on_fin(link::StreamId) override { fin = true; }
    void on_closed(const Error&) override {}
  } relay_ev;
  test::Recorder agent_ev;
  link::MuxLimits l = early_limits();
  l.resumable = true;
  link::Mux agent(link::Mux::Side::Initiator, l, agent_ev);
  link::Mux relay(link::Mux::Side::Responder, l, relay_ev);
  relay_ev.mux = &relay;
  auto id = agent.open(Target::host("resume.test", 80));
  REQUIRE(id);
  const Bytes request = bytes_of("GET / HTTP/1.1\r\nHost: resume.test\r\n\r\n");
  agent.send(*id, request);
  agent.finish(*id);
  Bytes lost;
  agent.produce(lost, 1 << 20);  // OPEN, DATA and FIN, gone with the link
  CHECK(data_bytes(lost) == request.size());
  agent.suspend();
  relay.suspend();
  agent.resume();
  relay.resume();
  for (int round = 0; round < 100; ++round) {
    Bytes a, b;
    agent.produce(a, 1 << 20);
    relay.produce(b, 1 << 20);
    if (a.empty() && b.empty()) break;
    REQUIRE(feed(relay, a));
    REQUIRE(feed(agent, b));
  }
  CHECK(relay_ev.opens == 1);
  CHECK(relay_ev.got == request);
  CHECK(relay_ev.fin);
  CHECK(agent_ev.streams[*id].result->code == frame::OpenCode::Ok);
}
