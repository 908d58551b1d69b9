// Pre-authentication input at the relay: a responder link session fed arbitrary bytes, cut into reads
// of fuzzer-chosen sizes. It must refuse or wait, never crash, and never produce output for input it
// did not authenticate. The relay accepts both cipher suites, so every message 1 goes through the
// trial of docs/protocol.md 2.3 step 3.
#include <sodium.h>

#include <cstdint>

#include "common/link/link_session.hpp"
#include "tests/fuzz/fuzz_assert.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

using namespace ferry;

namespace {

struct Events : link::LinkEvents {
  bool established = false;
  bool closed = false;
  void on_established(const crypto::PublicKey&) override { established = true; }
  void on_data(link::StreamId, ByteSpan) override {}
  void on_fin(link::StreamId) override {}
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override { closed = true; }
};

struct AdmitAgent : link::Admission {
  bool admit(const crypto::PublicKey& k) override { return k == fuzz::agent_key().public_key(); }
  bool fresh(const crypto::PublicKey&, const crypto::Tai64n&) override { return true; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  static const bool ready = sodium_init() >= 0;
  FERRY_FUZZ_ASSERT(ready);
  if (n < 1) return 0;
  const std::size_t chunk = 1 + p[0] % 64;  // the first byte picks the read size
  Bytes input(p + 1, p + n);
  Events ev;
  AdmitAgent admission;
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = &fuzz::relay_key();
  c.admission = &admission;
  c.accept_suites = crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm};
  link::LinkSession s(c, ev);
  s.start(link::Instant{0});
  for (std::size_t off = 0; off < input.size() && !ev.closed; off += chunk) {
    const std::size_t len = std::min(chunk, input.size() - off);
    s.receive(MutByteSpan(input).subspan(off, len), link::Instant{1});
  }
  FERRY_FUZZ_ASSERT(ev.established || !s.has_output());  // nothing for the unauthenticated
  Bytes out;
  s.produce(out, 1 << 20);
  s.tick(link::Instant{100000});
  return 0;
}
