// The payloads the link's handshake messages carry inside Noise (docs/protocol.md 2.2 and 2.4), in the
// first handshake and in an in-link one alike.
//
// Message 1 (initiator -> responder):
//    0          12        13       14                 30
//   +-----------+---------+-------+------------------+
//   | TAI64N    | wire    | flags | session id       |
//   | timestamp | version |       | (flag 0x02 only) |
//   |    12     |    1    |   1   |        16        |
//   +-----------+---------+-------+------------------+
//   flags: 0x01 also speaks version 2 (stream resumption); 0x02 resumes the session that follows;
//   0x08 takes ROUTES frames (docs/protocol.md 4.14); 0x10 sends early data, DATA before OPEN_RESULT
//   (docs/protocol.md 4.4), when the relay's message 2 agrees. Other bits, and bytes past the end, are
//   ignored.
//
// Message 2 (responder -> initiator):
//    0         1            17          18          19          21          22
//   +---------+------------+-----------+-----------+-----------+-----------+
//   | wire    | session id | suites    | resume    | grace     | features  |
//   | version | (random, or| accepted  | flags     | seconds   | (may be   |
//   |    1    | resumed)16 | 1, may be | version 2 | version 2 |  absent)  |
//   +---------+------------+-- absent -+-----------+-----------+-----------+
//   Resume flags 0x01: the session named in message 1 was resumed (else the session id is a new
//   one); grace, big-endian, how long the relay holds the session after its link is lost (0: it does
//   not). In version 1 both are zero, and present only when the features byte follows. Features
//   0x01: the relay takes early data (only to an agent whose message 1 offered it). Bytes past the
//   end are ignored.
//
// Sans-I/O: each payload arrives whole, decrypted from one Noise message, so a decoder answers with a
// payload or an error, never "need more". They check the grammar only; whether the version is ours,
// the timestamp fresh or the session id the link's is the handshake's call (common/link/link_handshake),
// because the order of those checks matters.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "common/codec/byte_reader.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/crypto/tai64n.hpp"
#include "common/result.hpp"

namespace ferry::link {

inline constexpr std::uint8_t kWireVersion = 1;
// Version 2 adds stream resumption (docs/protocol.md 4.13 and 2.6). An agent still says version 1
// in message 1, so that a version 1 relay answers it, and offers 2 in its flags.
inline constexpr std::uint8_t kResumableWireVersion = 2;

using SessionId = std::array<std::uint8_t, 16>;

struct Message1Payload {
  static constexpr std::size_t kBytes = 12 + 1 + 1;
  static constexpr std::uint8_t kFlagSpeaksV2 = 0x01;
  static constexpr std::uint8_t kFlagResume = 0x02;
  static constexpr std::uint8_t kFlagTakesRoutes = 0x08;  // 0x04 is kept for a version 3 (protocol.md 10)
  static constexpr std::uint8_t kFlagEarlyData = 0x10;

  crypto::Tai64n timestamp{};
  std::uint8_t wire_version = kWireVersion;
  std::uint8_t flags = 0;           // bits this side does not know are kept, never acted on
  std::optional<SessionId> resume;  // encoded with kFlagResume, which decode() requires it for

  bool speaks_v2() const noexcept { return (flags & kFlagSpeaksV2) != 0; }
  bool takes_routes() const noexcept { return (flags & kFlagTakesRoutes) != 0; }
  bool sends_early_data() const noexcept { return (flags & kFlagEarlyData) != 0; }
  Bytes encode() const;
  static Result<Message1Payload> decode(ByteSpan payload);
};

struct Message2Payload {
  // The suites byte came later than the rest: a relay without it accepts ChaCha20-Poly1305 alone.
  static constexpr std::size_t kMinBytes = 1 + 16;
  static constexpr std::size_t kV2Bytes = kMinBytes + 1 + 1 + 2;
  static constexpr std::uint8_t kFlagResumed = 0x01;
  static constexpr std::uint8_t kFeatureEarlyData = 0x01;

  std::uint8_t wire_version = kWireVersion;
  SessionId session_id{};  // fixed for the life of the session
  // Bit i = crypto::CipherSuite i; bits this side does not know are dropped.
  crypto::SuiteSet accept_suites{crypto::CipherSuite::ChaChaPoly};
  // Version 2: whether message 1's session was resumed, and the relay's resume_grace_s.
  bool resumed = false;
  std::uint16_t grace_s = 0;
  // The relay takes DATA before its OPEN_RESULT (docs/protocol.md 4.4), held until the dial ends.
  bool early_data = false;

  // Always with the suites byte; the resume fields in version 2 or when features follow them.
  Bytes encode() const;
  static Result<Message2Payload> decode(ByteSpan payload);
};

}  // namespace ferry::link
