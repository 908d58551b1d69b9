// The link's cipher suites (docs/protocol.md 2.5): the agent offers one, the relay finds it by trial
// among those it accepts, message 2 names the relay's set, and every later key (REKEY, in-link
// handshakes) stays on the suite the link began with.
#include <catch2/catch.hpp>

#include "tests/unit/link_harness.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using namespace std::chrono_literals;
using crypto::CipherSuite;
using crypto::SuiteSet;
using test::Pair;

namespace {

// Agent offers `offer`; the relay accepts `accept`.
Pair make_pair(CipherSuite offer, SuiteSet accept, std::function<void(link::LinkConfig&)> more = {}) {
  return Pair([=](link::LinkConfig& c) {
    c.suite = offer;
    c.accept_suites = accept;
    if (more) more(c);
  });
}

void exchange(Pair& p, std::size_t bytes) {
  auto id = p.agent->mux().open(Target::host("intranet.example", 443));
  REQUIRE(id);
  p.pump();
  Bytes up(bytes), down(bytes / 2);
  for (std::size_t i = 0; i < up.size(); ++i) up[i] = static_cast<std::uint8_t>(i * 7);
  for (std::size_t i = 0; i < down.size(); ++i) down[i] = static_cast<std::uint8_t>(i * 13);
  p.agent->mux().send(*id, up);
  p.relay->mux().send(*id, down);
  p.pump();
  CHECK((p.relay_events.streams[*id].data == up));
  CHECK((p.agent_events.streams[*id].data == down));
}

}  // namespace

TEST_CASE("an agent offering AES-256-GCM gets it from a relay that accepts both", "[link][suite]") {
  auto p = make_pair(CipherSuite::AesGcm, SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
  p.start();
  REQUIRE(p.agent->established());
  REQUIRE(p.relay->established());
  CHECK(p.agent->suite() == CipherSuite::AesGcm);
  CHECK(p.relay->suite() == CipherSuite::AesGcm);
  CHECK(p.agent->peer_suites() == SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
  CHECK(p.agent->handshake_hash() == p.relay->handshake_hash());
  exchange(p, 200'000);
}

TEST_CASE("an agent offering ChaCha20-Poly1305 gets it, and learns the relay also takes AES",
          "[link][suite]") {
  auto p = make_pair(CipherSuite::ChaChaPoly, SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
  p.start();
  REQUIRE(p.agent->established());
  CHECK(p.agent->suite() == CipherSuite::ChaChaPoly);
  CHECK(p.relay->suite() == CipherSuite::ChaChaPoly);
  CHECK(p.agent->peer_suites().contains(CipherSuite::AesGcm));
  exchange(p, 100'000);
}

TEST_CASE("a suite the relay does not accept is refused like a wrong key: no reply", "[link][suite]") {
  for (const auto& [offer, accept] : {std::pair{CipherSuite::AesGcm, SuiteSet{CipherSuite::ChaChaPoly}},
                                      std::pair{CipherSuite::ChaChaPoly, SuiteSet{CipherSuite::AesGcm}}}) {
    INFO("offer " << crypto::suite_name(offer));
    auto p = make_pair(offer, accept);
    p.relay->start(p.now);
    p.agent->start(p.now);
    CHECK(p.agent->handshake_begun());
    Bytes msg1;
    p.agent->produce(msg1, 1 << 16);
    p.relay->receive(msg1, p.now);
    REQUIRE(p.relay_events.closed);
    CHECK(p.relay_events.closed->code == Errc::DecryptFailed);
    CHECK_FALSE(p.relay->has_output());   // nothing tells a prober which part was wrong
    CHECK(p.admission.admit_calls == 0);  // refused before the allow-list is even asked
    CHECK_FALSE(p.agent->established());
  }
}

TEST_CASE("a relay's message 2 without the suites byte means ChaCha20-Poly1305 only", "[link][suite]") {
  const link::LinkSession::SessionId sid{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  Pair p;
  (void)test::RawPeer::relay_of(p, test::RawPeer::payload_2(sid));  // version | session id
  REQUIRE(p.agent->established());
  CHECK(p.agent->peer_suites() == SuiteSet{CipherSuite::ChaChaPoly});
  Pair q;
  Bytes with_byte = test::RawPeer::payload_2(sid);
  with_byte.push_back(0b11);
  (void)test::RawPeer::relay_of(q, with_byte);
  REQUIRE(q.agent->established());
  CHECK(q.agent->peer_suites() == SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
}

TEST_CASE("an AES-256-GCM link keeps its suite through REKEYs and in-link handshakes", "[link][suite]") {
  auto p = make_pair(CipherSuite::AesGcm, SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
  p.start();
  REQUIRE(p.agent->established());
  auto id = p.agent->mux().open(Target::host("intranet.example", 443));
  REQUIRE(id);
  p.pump();
  Bytes expect;
  for (int minute = 1; minute <= 70; ++minute) {
    p.live(1min);
    Bytes chunk(1000, static_cast<std::uint8_t>(minute));
    expect.insert(expect.end(), chunk.begin(), chunk.end());
    p.agent->mux().send(*id, chunk);
    p.pump();
  }
  CHECK(p.agent->counters().rekeys_sent >= 6);
  CHECK(p.agent->counters().rehandshakes == 1);
  CHECK(p.relay->counters().rehandshakes == 1);
  CHECK(p.agent->suite() == CipherSuite::AesGcm);
  CHECK(p.relay->suite() == CipherSuite::AesGcm);
  CHECK((p.relay_events.streams[*id].data == expect));
  CHECK_FALSE(p.relay_events.closed);
  CHECK_FALSE(p.agent_events.closed);
}

TEST_CASE("the relay's accepted set is announced in message 2 exactly", "[link][suite]") {
  for (const auto accept : {SuiteSet{CipherSuite::ChaChaPoly}, SuiteSet{CipherSuite::AesGcm},
                            SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm}}) {
    const CipherSuite offer =
        accept.contains(CipherSuite::AesGcm) ? CipherSuite::AesGcm : CipherSuite::ChaChaPoly;
    auto p = make_pair(offer, accept);
    p.start();
    REQUIRE(p.agent->established());
    CHECK(p.agent->peer_suites() == accept);
  }
}

TEST_CASE(
    "a link that began on ChaCha20-Poly1305 moves to the agent's new choice at its next in-link "
    "handshake",
    "[link][suite]") {
  auto p = make_pair(CipherSuite::ChaChaPoly, SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
  p.start();
  REQUIRE(p.agent->established());
  REQUIRE(p.agent->suite() == CipherSuite::ChaChaPoly);
  p.agent->set_suite(CipherSuite::AesGcm);
  p.live(10min);  // REKEYs keep the suite
  CHECK(p.agent->counters().rekeys_sent >= 1);
  CHECK(p.agent->suite() == CipherSuite::ChaChaPoly);
  p.live(55min);  // the hourly in-link handshake
  REQUIRE(p.agent->counters().rehandshakes == 1);
  CHECK(p.agent->suite() == CipherSuite::AesGcm);
  CHECK(p.relay->suite() == CipherSuite::AesGcm);
  exchange(p, 50'000);
  CHECK_FALSE(p.agent_events.closed);
}
