// The payloads the link's handshake messages carry inside Noise (docs/protocol.md 2.2 and 2.4), in the
// first handshake and in an in-link one alike.
//
// Message 1 (initiator -> responder):        Message 2 (responder -> initiator):
//    0          12        13       14           0         1            17          18
//   +-----------+---------+-------+            +---------+------------+-----------+
//   | TAI64N    | wire    | flags |            | wire    | session id | suites    |
//   | timestamp | version |       |            | version | (random)   | accepted  |
//   |    12     |    1    |   1   |            |    1    |     16     | 1, may be |
//   +-----------+---------+-------+            +---------+------------+-- absent -+
//   bytes after 14 are ignored                 bytes after 18 are ignored
//
// Sans-I/O: each payload arrives whole, decrypted from one Noise message, so a decoder answers with a
// payload or an error, never "need more". They check the grammar only; whether the version is ours,
// the timestamp fresh or the session id the link's is the handshake's call (common/link/link_handshake),
// because the order of those checks matters.
#pragma once

#include <array>
#include <cstdint>

#include "common/codec/byte_reader.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/crypto/tai64n.hpp"
#include "common/result.hpp"

namespace ferry::link {

inline constexpr std::uint8_t kWireVersion = 1;

using SessionId = std::array<std::uint8_t, 16>;

struct Message1Payload {
  static constexpr std::size_t kBytes = 12 + 1 + 1;

  crypto::Tai64n timestamp{};
  std::uint8_t wire_version = kWireVersion;
  // No flag is defined in wire version 1: sent as zero, never checked. A later version sets a bit here
  // to say that an optional field follows byte 13 (a session id to resume, say), which this version's
  // relays skip as trailing bytes.
  std::uint8_t flags = 0;

  Bytes encode() const;
  static Result<Message1Payload> decode(ByteSpan payload);
};

struct Message2Payload {
  // The suites byte came later than the rest: a relay without it accepts ChaCha20-Poly1305 alone.
  static constexpr std::size_t kMinBytes = 1 + 16;

  std::uint8_t wire_version = kWireVersion;
  SessionId session_id{};  // fixed for the life of the link
  // Bit i = crypto::CipherSuite i; bits this side does not know are dropped.
  crypto::SuiteSet accept_suites{crypto::CipherSuite::ChaChaPoly};

  Bytes encode() const;  // always with the suites byte
  static Result<Message2Payload> decode(ByteSpan payload);
};

}  // namespace ferry::link
