#include "common/link/handshake_payload.hpp"

#include <cstring>

namespace ferry::link {

Bytes Message1Payload::encode() const {
  Bytes p(kBytes + (resume ? SessionId{}.size() : 0));
  std::memcpy(p.data(), timestamp.data(), timestamp.size());
  p[timestamp.size()] = wire_version;
  p[timestamp.size() + 1] = static_cast<std::uint8_t>(resume ? flags | kFlagResume : flags & ~kFlagResume);
  if (resume) std::memcpy(p.data() + kBytes, resume->data(), resume->size());
  return p;
}

Result<Message1Payload> Message1Payload::decode(ByteSpan payload) {
  ByteReader r(payload);
  const auto timestamp = r.take(crypto::Tai64n{}.size());
  const auto version = r.u8();
  const auto flags = r.u8();
  if (!timestamp || !version || !flags) return fail(Errc::Malformed, "handshake payload is too short");
  Message1Payload p;
  std::memcpy(p.timestamp.data(), timestamp->data(), p.timestamp.size());
  p.wire_version = *version;
  p.flags = *flags;
  if (p.flags & kFlagResume) {
    const auto id = r.take(SessionId{}.size());
    if (!id) return fail(Errc::Malformed, "handshake payload names a session to resume but is too short");
    p.resume.emplace();
    std::memcpy(p.resume->data(), id->data(), p.resume->size());
  }
  return p;
}

Bytes Message2Payload::encode() const {
  Bytes p(kMinBytes + 1);
  p[0] = wire_version;
  std::memcpy(p.data() + 1, session_id.data(), session_id.size());
  p.back() = accept_suites.bits();
  // A version 1 message 2 carries the resume fields (as zeros) only to reach the features byte.
  if (wire_version == kResumableWireVersion || early_data) {
    p.push_back(resumed ? kFlagResumed : 0);
    p.push_back(static_cast<std::uint8_t>(grace_s >> 8));
    p.push_back(static_cast<std::uint8_t>(grace_s));
  }
  if (early_data) p.push_back(kFeatureEarlyData);
  return p;
}

Result<Message2Payload> Message2Payload::decode(ByteSpan payload) {
  ByteReader r(payload);
  const auto version = r.u8();
  const auto session_id = r.take(SessionId{}.size());
  if (!version || !session_id) return fail(Errc::Malformed, "handshake payload 2 is too short");
  Message2Payload p;
  p.wire_version = *version;
  std::memcpy(p.session_id.data(), session_id->data(), p.session_id.size());
  if (const auto suites = r.u8()) p.accept_suites = crypto::SuiteSet::from_bits(*suites);
  if (p.wire_version != kResumableWireVersion && p.wire_version != kWireVersion)
    return p;  // a later version's layout is its own
  const auto flags = r.u8();
  const auto grace = r.be16();
  if (p.wire_version == kResumableWireVersion) {
    if (!flags || !grace) return fail(Errc::Malformed, "handshake payload 2 of version 2 is too short");
    p.resumed = (*flags & kFlagResumed) != 0;
    p.grace_s = *grace;
  }
  if (const auto features = r.u8()) p.early_data = (*features & kFeatureEarlyData) != 0;
  return p;
}

}  // namespace ferry::link
