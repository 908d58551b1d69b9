// The handshake payload decoders (common/link/handshake_payload) on the same bytes: whatever a peer
// puts inside its Noise message, after the AEAD has passed it.
//
// 1. Each decoder fails exactly when the input is shorter than its fixed part, and then with
//    Errc::Malformed. The fixed part grows with what the input says: message 1's resume flag (0x02)
//    adds the 16-byte session id, message 2 of version 2 adds the suites, resume flags and grace;
//    message 2's features byte (early data) may follow the grace in either version.
// 2. Round trip: encoding what was decoded gives back the input's fixed part (and message 2's suites
//    byte, less the bits nobody knows; its resume flags, less those); decoding that again gives the
//    same fields.
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
  const bool resumes = in.size() > 13 && (in[13] & link::Message1Payload::kFlagResume) != 0;
  const std::size_t fixed = link::Message1Payload::kBytes + (resumes ? link::SessionId{}.size() : 0);
  const auto p = decoded<link::Message1Payload>(in, fixed);
  if (!p) return;
  FERRY_FUZZ_ASSERT(p->resume.has_value() == resumes);
  const Bytes again = p->encode();
  FERRY_FUZZ_ASSERT(again.size() == fixed);
  FERRY_FUZZ_ASSERT(std::equal(again.begin(), again.end(), in.begin()));
  auto q = link::Message1Payload::decode(again);
  FERRY_FUZZ_ASSERT(q && q->timestamp == p->timestamp && q->wire_version == p->wire_version &&
                    q->flags == p->flags && q->resume == p->resume);
}

void message2(ByteSpan in) {
  using link::Message2Payload;
  const bool v2 = !in.empty() && in[0] == link::kResumableWireVersion;
  const bool v1 = !in.empty() && in[0] == link::kWireVersion;
  const auto p = decoded<Message2Payload>(in, v2 ? Message2Payload::kV2Bytes : Message2Payload::kMinBytes);
  if (!p) return;
  const bool suites_sent = in.size() > Message2Payload::kMinBytes;
  FERRY_FUZZ_ASSERT(suites_sent || p->accept_suites == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
  // The features byte follows the grace, in version 1 (behind zeros) as in version 2.
  const bool early = (v1 || v2) && in.size() > Message2Payload::kV2Bytes &&
                     (in[Message2Payload::kV2Bytes] & Message2Payload::kFeatureEarlyData) != 0;
  FERRY_FUZZ_ASSERT(p->early_data == early);
  const Bytes again = p->encode();
  const std::size_t plain = v2 ? Message2Payload::kV2Bytes : Message2Payload::kMinBytes + 1;
  FERRY_FUZZ_ASSERT(again.size() == (early ? Message2Payload::kV2Bytes + 1 : plain));
  FERRY_FUZZ_ASSERT(std::equal(again.begin(), again.begin() + Message2Payload::kMinBytes, in.begin()));
  if (suites_sent)
    FERRY_FUZZ_ASSERT(again[Message2Payload::kMinBytes] ==
                      crypto::SuiteSet::from_bits(in[Message2Payload::kMinBytes]).bits());
  if (v2) {
    FERRY_FUZZ_ASSERT(p->resumed == ((in[18] & Message2Payload::kFlagResumed) != 0));
    FERRY_FUZZ_ASSERT(std::equal(again.begin() + 19, again.begin() + 21, in.begin() + 19));  // the grace
  } else {
    FERRY_FUZZ_ASSERT(!p->resumed && p->grace_s == 0);
  }
  auto q = Message2Payload::decode(again);
  FERRY_FUZZ_ASSERT(q && q->wire_version == p->wire_version && q->session_id == p->session_id &&
                    q->accept_suites == p->accept_suites && q->resumed == p->resumed &&
                    q->grace_s == p->grace_s && q->early_data == p->early_data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  const ByteSpan in(p, n);
  message1(in);
  message2(in);
  return 0;
}
