// The handshake payload decoders (common/link/handshake_payload) on the same bytes: whatever a peer
// puts inside its Noise message, after the AEAD has passed it.
//
// 1. Each decoder fails exactly when the input is shorter than its fixed part, and then with
//    Errc::Malformed.
// 2. Round trip: encoding what was decoded gives back the input's fixed part (and message 2's suites
//    byte, less the bits nobody knows); decoding that again gives the same fields.
#include <algorithm>
#include <cstdint>
#include <optional>

#include "common/link/handshake_payload.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

namespace {

// The payload `in` decodes to; none, and a Malformed error, exactly when `in` is shorter than `fixed`.
template <class Payload>
std::optional<Payload> decoded(ByteSpan in, std::size_t fixed) {
  auto p = Payload::decode(in);
  FERRY_FUZZ_ASSERT(bool(p) == (in.size() >= fixed));
  if (p) return *p;
  FERRY_FUZZ_ASSERT(p.error().code == Errc::Malformed);
  return std::nullopt;
}

void message1(ByteSpan in) {
  const auto p = decoded<link::Message1Payload>(in, link::Message1Payload::kBytes);
  if (!p) return;
  const Bytes again = p->encode();
  FERRY_FUZZ_ASSERT(again.size() == link::Message1Payload::kBytes);
  FERRY_FUZZ_ASSERT(std::equal(again.begin(), again.end(), in.begin()));
  auto q = link::Message1Payload::decode(again);
  FERRY_FUZZ_ASSERT(q && q->timestamp == p->timestamp && q->wire_version == p->wire_version &&
                    q->flags == p->flags);
}

void message2(ByteSpan in) {
  const auto p = decoded<link::Message2Payload>(in, link::Message2Payload::kMinBytes);
  if (!p) return;
  const bool suites_sent = in.size() > link::Message2Payload::kMinBytes;
  FERRY_FUZZ_ASSERT(suites_sent || p->accept_suites == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
  const Bytes again = p->encode();
  FERRY_FUZZ_ASSERT(again.size() == link::Message2Payload::kMinBytes + 1);
  FERRY_FUZZ_ASSERT(std::equal(again.begin(), again.end() - 1, in.begin()));
  if (suites_sent)
    FERRY_FUZZ_ASSERT(again.back() ==
                      crypto::SuiteSet::from_bits(in[link::Message2Payload::kMinBytes]).bits());
  auto q = link::Message2Payload::decode(again);
  FERRY_FUZZ_ASSERT(q && q->wire_version == p->wire_version && q->session_id == p->session_id &&
                    q->accept_suites == p->accept_suites);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  const ByteSpan in(p, n);
  message1(in);
  message2(in);
  return 0;
}
