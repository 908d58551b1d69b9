#include "common/link/handshake_payload.hpp"

#include <cstring>

namespace ferry::link {

Bytes Message1Payload::encode() const {
  Bytes p(kBytes);
  std::memcpy(p.data(), timestamp.data(), timestamp.size());
  p[timestamp.size()] = wire_version;
  p[timestamp.size() + 1] = flags;
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
  return p;
}

Bytes Message2Payload::encode() const {
  Bytes p(kMinBytes + 1);
  p[0] = wire_version;
  std::memcpy(p.data() + 1, session_id.data(), session_id.size());
  p.back() = accept_suites.bits();
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
  return p;
}

}  // namespace ferry::link
