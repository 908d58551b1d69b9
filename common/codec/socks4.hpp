// SOCKS4 and its 4a extension, the server side of CONNECT ("SOCKS: A protocol for TCP proxy across
// firewalls", Ying-Da Lee; "SOCKS 4A: A Simple Extension to SOCKS 4 Protocol").
//
// Request (client -> agent):
//   +----+----+----+----+----+----+----+----+----+....+----+----+....+----+
//   | VN | CD | DSTPORT |      DSTIP        | USERID  |NUL | HOSTNAME|NUL |
//   | 4  |  1 | 2 (BE)  |     4 bytes       | 0..255  | 0  | 4a only | 0  |
//   +----+----+----+----+----+----+----+----+----+....+----+----+....+----+
//   SOCKS4a: DSTIP 0.0.0.x with x != 0 means "no address: the name follows the USERID".
//
// Reply (agent -> client), always 8 bytes:
//   +----+----+----+----+----+----+----+----+
//   | VN | CD | DSTPORT |      DSTIP        |    VN 0; CD 0x5A granted, 0x5B rejected;
//   | 0  |    |  0  0   |   0   0   0   0   |    port and address zero (unused for CONNECT)
//   +----+----+----+----+----+----+----+----+
//
// SOCKS4 cannot carry a password, so with [auth] set the session rejects every SOCKS4 client
// (docs/spec.md 6.4); the USERID is reported only so that the refusal can be logged with it.
#pragma once

#include <cstdint>
#include <string>

#include "common/codec/byte_reader.hpp"
#include "common/codec/decoded.hpp"
#include "common/codec/link_frame.hpp"
#include "common/codec/target.hpp"
#include "common/result.hpp"

namespace ferry::socks4 {

inline constexpr std::uint8_t kVersion = 0x04;
inline constexpr std::uint8_t kReplyVersion = 0x00;
inline constexpr std::uint8_t kCmdConnect = 0x01;
inline constexpr std::uint8_t kCmdBind = 0x02;
// CD values of a reply, as the SOCKS4 document numbers them (90, 91, 92, 93).
inline constexpr std::uint8_t kRequestGranted = 0x5A;
inline constexpr std::uint8_t kRequestRejectedOrFailed = 0x5B;
inline constexpr std::uint8_t kRequestRejectedNoIdentd = 0x5C;
inline constexpr std::uint8_t kRequestRejectedIdentdMismatch = 0x5D;

// The longest USERID or 4a host name we accept. The protocol has no length field, so without a bound
// a client could make us buffer until memory runs out looking for the NUL.
inline constexpr std::size_t kMaxUserIdBytes = 255;
inline constexpr std::size_t kMaxHostNameBytes = 255;

struct Request {
  std::uint8_t cmd = kCmdConnect;  // any value: the session rejects all but CONNECT itself
  Target target;                   // Ipv4 for SOCKS4, Name for SOCKS4a
  std::string user_id;             // 0..255 opaque bytes, never NUL
  friend bool operator==(const Request&, const Request&) = default;
};

// Errors: Errc::BadVersion for a VN other than 4; Errc::TooLarge for a USERID or host name longer
// than 255 bytes; Errc::Malformed for an empty 4a host name or one that is not printable ASCII.
[[nodiscard]] Result<Decoded<Request>> decode_request(ByteSpan in);
[[nodiscard]] Bytes encode_reply(std::uint8_t code);
// The client side, for round-trip tests and fuzz targets: a Name target is written as SOCKS4a.
// SOCKS4 has no IPv6; an Ipv6 target's first four bytes are written, so do not pass one.
[[nodiscard]] Bytes encode_request(const Request& r);

// The outcome table (docs/spec.md 7): SOCKS4 has one way to say no.
[[nodiscard]] std::uint8_t code_for(frame::OpenCode code) noexcept;

}  // namespace ferry::socks4
