// An established link at the relay fed arbitrary transport records: the peer is authenticated and
// holds the keys, so every record decrypts and its plaintext (the fuzzer's bytes) reaches the frame
// decoder, the mux, key updates, in-link handshakes, PINGs and CLOSE. A hostile agent can send any of
// this. The session must close or carry on, never crash, and once closed it must stop producing.
//
// Input: one byte of settings, then records, each a 2-byte length, a 1-byte clock step (ms x 16)
// and that many plaintext bytes, which this target seals with the agent's send key. Bit 0 of the
// settings: the relay answers OPENs with Ok (else Denied); bit 1: it returns credit for DATA.
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "common/crypto/handshake_ik.hpp"
#include "common/crypto/tai64n.hpp"
#include "common/link/link_session.hpp"
#include "tests/fuzz/fuzz_assert.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

using namespace ferry;

namespace {

struct Events : link::LinkEvents {
  link::LinkSession* session = nullptr;
  bool accept_ok = true;
  bool consume = true;
  link::Instant now{0};
  bool closed = false;
  void on_established(const crypto::PublicKey&) override {}
  void on_open(link::StreamId id, const Target&) override {
    session->mux().accept(id, accept_ok ? frame::OpenCode::Ok : frame::OpenCode::Denied, "fuzz");
  }
  void on_data(link::StreamId id, ByteSpan b) override {
    if (consume) session->mux().consumed(id, b.size(), now);
    if (!b.empty() && b[0] == 'R')
      session->mux().reset(id, frame::ResetCode::Cancel);       // an owner that aborts
    if (!b.empty() && b[0] == 'E') session->mux().send(id, b);  // and one that answers
  }
  void on_fin(link::StreamId id) override { session->mux().finish(id); }
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override { closed = true; }
};

struct AdmitAgent : link::Admission {
  bool admit(const crypto::PublicKey& k) override { return k == fuzz::agent_key().public_key(); }
  bool fresh(const crypto::PublicKey&, const crypto::Tai64n&) override { return true; }
};

ByteSpan prologue() {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(link::kPrologue.data()), link::kPrologue.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  static const bool ready = sodium_init() >= 0;
  FERRY_FUZZ_ASSERT(ready);
  if (n < 1) return 0;
  Events ev;
  ev.accept_ok = p[0] & 1;
  ev.consume = p[0] & 2;
  AdmitAgent admission;
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = &fuzz::relay_key();
  c.admission = &admission;
  c.mux.max_streams = 64;  // small tables: the fuzzer reaches the limits
  link::LinkSession relay(c, ev);
  ev.session = &relay;
  relay.start(ev.now);

  // The agent's side of the handshake, by hand: message 1 in, message 2 out, keys split.
  auto hs = crypto::HandshakeIK::initiator(fuzz::agent_key(), fuzz::relay_key().public_key(), prologue());
  const auto ts =
      crypto::tai64n_from(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
  Bytes payload(ts.begin(), ts.end());
  payload.push_back(link::kWireVersion);
  payload.push_back(0);
  auto m1 = hs.write_message1(payload);
  FERRY_FUZZ_ASSERT(m1);
  Bytes wire(2 + m1->size());
  wire[0] = static_cast<std::uint8_t>(m1->size() >> 8);
  wire[1] = static_cast<std::uint8_t>(m1->size() & 0xFF);
  std::copy(m1->begin(), m1->end(), wire.begin() + 2);
  relay.receive(wire, ev.now);
  FERRY_FUZZ_ASSERT(relay.established());
  wire.clear();
  relay.produce(wire, 1 << 20);
  FERRY_FUZZ_ASSERT(wire.size() >= 2);
  const std::size_t m2_len = (std::size_t{wire[0]} << 8) | wire[1];
  FERRY_FUZZ_ASSERT(hs.read_message2(ByteSpan(wire).subspan(2, m2_len)));
  auto keys = hs.split();

  // The records.
  std::size_t at = 1;
  while (at + 3 <= n && !ev.closed) {
    const std::size_t len = (std::size_t{p[at]} << 8) | p[at + 1];
    ev.now += link::Millis(16 * p[at + 2]);
    at += 3;
    const std::size_t take = std::min(len, n - at);
    if (take > frame::kMaxRecordPlaintext) break;
    Bytes record(2 + take + crypto::kTagBytes);
    auto sealed = keys.send.encrypt({}, p + at, take, record.data() + 2);
    FERRY_FUZZ_ASSERT(sealed);
    record[0] = static_cast<std::uint8_t>(*sealed >> 8);
    record[1] = static_cast<std::uint8_t>(*sealed & 0xFF);
    at += take;
    relay.tick(ev.now);
    relay.receive(record, ev.now);
    Bytes out;
    relay.produce(out, 1 << 16);  // the relay's answers leave; a closed link sends its CLOSE at most
  }
  // Once closed, a session has nothing more to say after its CLOSE record.
  Bytes out;
  for (int i = 0; i < 64 && relay.has_output(); ++i) relay.produce(out, 1 << 20);
  FERRY_FUZZ_ASSERT(!ev.closed || !relay.has_output());
  relay.tick(ev.now + link::Millis(100'000));
  return 0;
}
