// What a handshake costs in X25519 operations, counted by interposing libsodium's two entry points
// (the test binary links libsodium dynamically; dlsym(RTLD_NEXT) finds the real ones). The relay's
// promise (docs/protocol.md 2.3): a stranger's message 1 costs two X25519 before it is refused, the
// same as an enrolled key's that is refused, so timing tells nobody which keys are enrolled.
#include <dlfcn.h>
#include <sodium.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "tests/unit/link_harness.hpp"

using namespace ferry;

namespace {

std::atomic<int> g_base_multiplies{0};  // crypto_scalarmult_base: deriving a public key
std::atomic<int> g_dh{0};               // crypto_scalarmult: a DH

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

int x25519_calls() { return g_base_multiplies + g_dh; }

struct Cost {
  int dh = 0, base_multiplies = 0;
};

// The relay's X25519 work on the agent's message 1.
Cost message1_cost(test::Pair& p) {
  p.relay->start(p.now);
  p.agent->start(p.now);
  Bytes msg1;
  p.agent->produce(msg1, 1 << 16);
  const int base = g_base_multiplies, dh = g_dh;
  p.relay->receive(msg1, p.now);
  return Cost{g_dh - dh, g_base_multiplies - base};
}

// The same when the agent's key is not listed.
Cost stranger_cost(test::Pair& p) {
  p.admission.allowed.clear();
  const Cost c = message1_cost(p);
  REQUIRE(p.relay_events.closed);
  CHECK(p.relay_events.closed->code == Errc::Refused);  // the suite was found; the key was not listed
  return c;
}

}  // namespace

extern "C" int crypto_scalarmult_base(unsigned char* q, const unsigned char* n) {
  using Fn = int (*)(unsigned char*, const unsigned char*);
  static const Fn next = real<Fn>("crypto_scalarmult_base");
  ++g_base_multiplies;
  return next(q, n);
}

extern "C" int crypto_scalarmult(unsigned char* q, const unsigned char* n, const unsigned char* p) {
  using Fn = int (*)(unsigned char*, const unsigned char*, const unsigned char*);
  static const Fn next = real<Fn>("crypto_scalarmult");
  ++g_dh;
  return next(q, n, p);
}

TEST_CASE("a key's public half is derived once, when the key is made", "[keys][cost]") {
  const int before = x25519_calls();
  const auto k = crypto::SecretKey::generate();
  CHECK(x25519_calls() == before + 1);
  const crypto::PublicKey& a = k.public_key();
  const crypto::PublicKey& b = k.public_key();
  CHECK(&a == &b);
  CHECK(x25519_calls() == before + 1);
  crypto::PublicKey check;
  REQUIRE(crypto_scalarmult_base(check.bytes.data(), k.data()) == 0);
  CHECK(check == a);
}

TEST_CASE("an unlisted initiator costs the relay two X25519, as a refused enrolled one does",
          "[link][admission][cost]") {
  test::Pair p;
  const Cost c = stranger_cost(p);
  CHECK(c.dh == 2);               // es to decrypt the initiator's static key, ss as for an enrolled key
  CHECK(c.base_multiplies == 0);  // neither our static public key nor an ephemeral key
  // An enrolled key's message 1 that is refused (here: a replay) costs exactly the same.
  test::Pair q;
  q.relay->start(q.now);
  q.agent->start(q.now);
  Bytes msg1;
  q.agent->produce(msg1, 1 << 16);
  Bytes again = msg1;
  q.relay->receive(msg1, q.now);
  REQUIRE(q.relay->established());
  link::LinkConfig rc;
  rc.role = link::LinkConfig::Role::Responder;
  rc.static_key = &q.relay_key;
  rc.admission = &q.admission;
  test::Recorder ev;
  link::LinkSession replayed(rc, ev);
  replayed.start(q.now);
  const int dh = g_dh;
  replayed.receive(again, q.now);
  REQUIRE(ev.closed);
  CHECK(ev.closed->code == Errc::Replay);
  CHECK(g_dh - dh == c.dh);
}

TEST_CASE("an admitted initiator costs the relay four DHs and one ephemeral key", "[link][admission][cost]") {
  test::Pair p;
  const Cost c = message1_cost(p);
  REQUIRE(p.relay->established());
  CHECK(c.dh == 4);               // es, ss, ee, se
  CHECK(c.base_multiplies == 1);  // the ephemeral key, drawn for message 2
}

TEST_CASE("with both suites accepted, a stranger offering either still costs two X25519",
          "[link][admission][cost][suite]") {
  for (const auto offer : {crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm}) {
    test::Pair p([=](link::LinkConfig& c) {
      c.suite = offer;
      c.accept_suites = crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm};
    });
    const Cost c = stranger_cost(p);
    CHECK(c.dh == 2);
    CHECK(c.base_multiplies == 0);
  }
}
