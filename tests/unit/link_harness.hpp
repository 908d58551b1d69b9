// In-memory harness for link tests: an event recorder, an admission list, and a pair of sessions
// that exchange bytes directly under an injected clock.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "common/link/link_session.hpp"

namespace ferry::test {

struct StreamLog {
  Bytes data;
  std::uint64_t bytes = 0;
  bool fin = false;
  std::optional<frame::ResetCode> reset;
  std::optional<frame::OpenResult> result;
  std::optional<Target> target;
};

struct Recorder : link::LinkEvents {
  link::LinkSession* session = nullptr;
  link::Instant* now = nullptr;
  bool keep_data = true;     // store payload (small tests) or only count it
  bool auto_consume = true;  // report bytes consumed at once
  bool auto_accept = true;   // responder: accept every OPEN
  std::map<link::StreamId, StreamLog> streams;
  std::vector<link::StreamId> writable;
  std::optional<Error> closed;
  std::optional<frame::GoAway> goaway;
  bool established = false;

  void on_established(const crypto::PublicKey&) override { established = true; }
  void on_open(link::StreamId id, const Target& t) override {
    streams[id].target = t;
    if (auto_accept) session->mux().accept(id, frame::OpenCode::Ok);
  }
  void on_open_result(link::StreamId id, const frame::OpenResult& r) override { streams[id].result = r; }
  // Holds the spans and copies them only when the receive() that delivered them has returned, the
  // longest LinkEvents::on_data promises they live (SocketPipe gathers a read's frames this way).
  bool hold_spans = false;
  std::vector<std::pair<link::StreamId, ByteSpan>> held;
  void release_held() {
    for (auto& [id, b] : held) streams[id].data.insert(streams[id].data.end(), b.begin(), b.end());
    held.clear();
  }

  void on_data(link::StreamId id, ByteSpan b) override {
    auto& s = streams[id];
    if (hold_spans)
      held.emplace_back(id, b);
    else if (keep_data)
      s.data.insert(s.data.end(), b.begin(), b.end());
    s.bytes += b.size();
    if (auto_consume) session->mux().consumed(id, b.size(), *now);
  }
  void on_fin(link::StreamId id) override { streams[id].fin = true; }
  void on_reset(link::StreamId id, frame::ResetCode c) override { streams[id].reset = c; }
  void on_writable(link::StreamId id) override { writable.push_back(id); }
  void on_goaway(const frame::GoAway& g) override { goaway = g; }
  int alive = 0;  // probes answered
  void on_alive() override { ++alive; }
  std::vector<frame::Routes> routes;
  void on_routes(const frame::Routes& r) override { routes.push_back(r); }
  void on_closed(const Error& why) override { closed = why; }
};

struct ListAdmission : link::Admission {
  std::vector<crypto::PublicKey> allowed;
  std::vector<std::pair<crypto::PublicKey, crypto::Tai64n>> last;
  int admit_calls = 0;
  bool admit(const crypto::PublicKey& k) override {
    ++admit_calls;
    for (const auto& a : allowed)
      if (a == k) return true;
    return false;
  }
  bool fresh(const crypto::PublicKey& k, const crypto::Tai64n& ts) override {
    for (auto& [key, t] : last)
      if (key == k) {
        if (!crypto::newer(ts, t)) return false;
        t = ts;
        return true;
      }
    last.emplace_back(k, ts);
    return true;
  }
};

struct Pair {
  link::Instant now{1'000'000};
  std::chrono::system_clock::time_point wall = std::chrono::system_clock::now();
  crypto::SecretKey agent_key = crypto::SecretKey::generate();
  crypto::SecretKey relay_key = crypto::SecretKey::generate();
  ListAdmission admission;
  Recorder agent_events, relay_events;
  std::optional<link::LinkSession> agent, relay;
  std::uint64_t wire_bytes = 0;

  explicit Pair(std::function<void(link::LinkConfig&)> tweak = {}) {
    admission.allowed.push_back(agent_key.public_key());
    link::LinkConfig a;
    a.role = link::LinkConfig::Role::Initiator;
    a.static_key = &agent_key;
    a.peer_key = relay_key.public_key();
    a.wall_clock = [this] { return wall; };
    link::LinkConfig r;
    r.role = link::LinkConfig::Role::Responder;
    r.static_key = &relay_key;
    r.admission = &admission;
    if (tweak) {
      tweak(a);
      tweak(r);
    }
    agent.emplace(a, agent_events);
    relay.emplace(r, relay_events);
    agent_events.session = &*agent;
    relay_events.session = &*relay;
    agent_events.now = relay_events.now = &now;
  }

  void start() {
    relay->start(now);
    agent->start(now);
    pump();
  }

  // Moves bytes both ways until neither side has output, cutting reads into `chunk`-byte pieces.
  // Returns the number of rounds; bounded so a livelock fails the test instead of hanging it.
  int pump(std::size_t chunk = SIZE_MAX, int max_rounds = 100000) {
    int rounds = 0;
    while ((agent->has_output() || relay->has_output()) && rounds++ < max_rounds) {
      move(*agent, *relay, chunk);
      move(*relay, *agent, chunk);
    }
    return rounds;
  }

  void move(link::LinkSession& from, link::LinkSession& to, std::size_t chunk) {
    Bytes out;
    from.produce(out, 1 << 20);
    wire_bytes += out.size();
    for (std::size_t off = 0; off < out.size(); off += chunk) {
      const std::size_t n = std::min(chunk, out.size() - off);
      to.receive(MutByteSpan(out).subspan(off, n), now);
      (&to == &*agent ? agent_events : relay_events).release_held();
    }
  }

  // Lets time pass the way it does on a live link: ticks every 5 s, with the bytes they cause moved.
  void live(link::Millis d) {
    for (link::Millis step{5000}; d.count() > 0; d -= step) {
      advance(std::min(step, d));
      pump();
    }
  }

  void advance(link::Millis d) {
    now += d;
    wall += d;
    agent->tick(now);
    relay->tick(now);
  }
};

// A hand-driven peer, for tests that must send what a LinkSession never would: it runs the IK
// handshake with crypto::HandshakeIK itself, then seals and opens records with its own keys.
// Whole link frames in `wire`, in order; a frame that does not decode fails the test.
inline std::vector<frame::Frame> frames_of(ByteSpan wire) {
  std::vector<frame::Frame> frames;
  while (!wire.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(wire, used);
    REQUIRE(f);
    frames.push_back(*f);
    wire = wire.subspan(used);
  }
  return frames;
}

struct RawPeer {
  crypto::CipherState send, recv;

  static ByteSpan prologue() {
    return ByteSpan(reinterpret_cast<const std::uint8_t*>(link::kPrologue.data()), link::kPrologue.size());
  }
  // Message 1's payload (docs/protocol.md 2.2): TAI64N | version | reserved.
  static Bytes payload_1(std::chrono::system_clock::time_point wall) {
    const auto ts = crypto::tai64n_from(wall);
    Bytes p(ts.begin(), ts.end());
    p.push_back(link::kWireVersion);
    p.push_back(0);
    return p;
  }
  // Message 2's payload (2.4): version | session id.
  static Bytes payload_2(const link::LinkSession::SessionId& id) {
    Bytes p{link::kWireVersion};
    p.insert(p.end(), id.begin(), id.end());
    return p;
  }
  static void put_record(Bytes& out, ByteSpan body) {
    const std::size_t at = out.size();
    out.resize(at + 2 + body.size());
    put_be16(&out[at], static_cast<std::uint16_t>(body.size()));
    std::copy(body.begin(), body.end(), out.begin() + static_cast<std::ptrdiff_t>(at + 2));
  }
  // Splits wire bytes into record bodies (whole records only).
  static std::vector<Bytes> records(ByteSpan wire) {
    std::vector<Bytes> out;
    while (wire.size() >= 2) {
      const std::size_t len = get_be16(wire.data());
      REQUIRE(wire.size() >= 2 + len);
      out.emplace_back(wire.begin() + 2, wire.begin() + 2 + static_cast<std::ptrdiff_t>(len));
      wire = wire.subspan(2 + len);
    }
    REQUIRE(wire.empty());
    return out;
  }

  // One record holding `frames`, sealed with this peer's send key.
  Bytes seal(ByteSpan frames) {
    Bytes body(frames.size() + crypto::kTagBytes);
    auto n = send.encrypt({}, frames.data(), frames.size(), body.data());
    REQUIRE(n);
    Bytes out;
    put_record(out, body);
    return out;
  }
  // Seals `frames` into one record and hands it to `s`.
  void send_to(link::LinkSession& s, ByteSpan frames, link::Instant now) {
    Bytes rec = seal(frames);
    s.receive(rec, now);
  }
  // The plaintext (whole frames) of a transport record body.
  Bytes open(Bytes body) {
    auto n = recv.decrypt({}, body.data(), body.size(), body.data());
    REQUIRE(n);
    body.resize(*n);
    return body;
  }
  // Every frame the session has to send now, decrypted, in order.
  std::vector<frame::Frame> drain(link::LinkSession& s, Bytes& keep) {
    Bytes wire;
    s.produce(wire, 1 << 20);
    keep.clear();
    for (auto& rec : records(wire)) {
      const Bytes plain = open(std::move(rec));
      keep.insert(keep.end(), plain.begin(), plain.end());
    }
    return frames_of(keep);
  }

  // Plays the agent against p.relay: message 1 in, message 2 out, keys split.
  static RawPeer agent_of(Pair& p) {
    p.relay->start(p.now);
    auto hs = crypto::HandshakeIK::initiator(p.agent_key, p.relay_key.public_key(), prologue());
    auto m1 = hs.write_message1(payload_1(p.wall));
    REQUIRE(m1);
    Bytes wire;
    put_record(wire, *m1);
    p.relay->receive(wire, p.now);
    REQUIRE(p.relay->established());
    wire.clear();
    p.relay->produce(wire, 1 << 20);
    auto recs = records(wire);
    REQUIRE(!recs.empty());
    REQUIRE(hs.read_message2(recs[0]));
    auto keys = hs.split();
    RawPeer peer{std::move(keys.send), std::move(keys.recv)};
    for (std::size_t i = 1; i < recs.size(); ++i) peer.open(std::move(recs[i]));  // the first PING
    return peer;
  }

  // Plays the relay against p.agent, with `payload` in message 2 (payload_2() for a valid one).
  static RawPeer relay_of(Pair& p, ByteSpan payload) {
    p.agent->start(p.now);
    Bytes wire;
    p.agent->produce(wire, 1 << 20);
    auto recs = records(wire);
    REQUIRE(recs.size() == 1);
    auto hs = crypto::HandshakeIK::responder(p.relay_key, prologue());
    REQUIRE(hs.read_message1_identity(recs[0]));
    REQUIRE(hs.read_message1_payload());
    auto m2 = hs.write_message2(payload);
    REQUIRE(m2);
    wire.clear();
    put_record(wire, *m2);
    p.agent->receive(wire, p.now);
    auto keys = hs.split();
    return RawPeer{std::move(keys.send), std::move(keys.recv)};
  }
};

}  // namespace ferry::test
