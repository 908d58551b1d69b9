// SOCKS5, the server side of RFC 1928 with username/password authentication from RFC 1929.
//
// Greeting (client -> agent), RFC 1928 §3:      Method choice (agent -> client):
//   +-----+----------+----------+                 +-----+--------+
//   | VER | NMETHODS | METHODS  |                 | VER | METHOD |
//   |  5  |  1..255  | 1..255 B |                 |  5  |   1    |
//   +-----+----------+----------+                 +-----+--------+
//
// Username/password (client -> agent), RFC 1929 §2:     Status (agent -> client):
//   +-----+------+--------+------+--------+               +-----+--------+
//   | VER | ULEN | UNAME  | PLEN | PASSWD |               | VER | STATUS |
//   |  1  |  1   | 1..255 |  1   | 1..255 |               |  1  | 0 = ok |
//   +-----+------+--------+------+--------+               +-----+--------+
//
// Request (client -> agent) and reply (agent -> client), RFC 1928 §4 and §6:
//   +-----+---------+-------+------+----------+----------+
//   | VER | CMD/REP |  RSV  | ATYP | DST.ADDR | DST.PORT |
//   |  5  |    1    |   0   |  1   | variable |  2 (BE)  |
//   +-----+---------+-------+------+----------+----------+
//   ATYP 1: 4-byte IPv4; ATYP 3: 1-byte length then that many name bytes; ATYP 4: 16-byte IPv6.
//
// The decoders are sans-I/O: they read the bytes buffered so far and keep nothing. A strict prefix of a
// valid message is never an error (Decoded without a message means "read more"), while a byte that no
// valid message can have fails as soon as it arrives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/codec/byte_reader.hpp"
#include "common/codec/decoded.hpp"
#include "common/codec/link_frame.hpp"
#include "common/codec/target.hpp"
#include "common/result.hpp"

namespace ferry::socks5 {

inline constexpr std::uint8_t kVersion = 0x05;

// METHOD values, RFC 1928 §3.
inline constexpr std::uint8_t kMethodNoAuthenticationRequired = 0x00;
inline constexpr std::uint8_t kMethodGssapi = 0x01;
inline constexpr std::uint8_t kMethodUsernamePassword = 0x02;
inline constexpr std::uint8_t kMethodNoAcceptableMethods = 0xFF;

// CMD values, RFC 1928 §4.
inline constexpr std::uint8_t kCmdConnect = 0x01;
inline constexpr std::uint8_t kCmdBind = 0x02;
inline constexpr std::uint8_t kCmdUdpAssociate = 0x03;

// ATYP values, RFC 1928 §4.
inline constexpr std::uint8_t kAtypIpv4 = 0x01;
inline constexpr std::uint8_t kAtypDomainName = 0x03;
inline constexpr std::uint8_t kAtypIpv6 = 0x04;

// REP values, RFC 1928 §6, named as the RFC names them.
inline constexpr std::uint8_t kRepSucceeded = 0x00;
inline constexpr std::uint8_t kRepGeneralSocksServerFailure = 0x01;
inline constexpr std::uint8_t kRepConnectionNotAllowedByRuleset = 0x02;
inline constexpr std::uint8_t kRepNetworkUnreachable = 0x03;
inline constexpr std::uint8_t kRepHostUnreachable = 0x04;
inline constexpr std::uint8_t kRepConnectionRefused = 0x05;
inline constexpr std::uint8_t kRepTtlExpired = 0x06;
inline constexpr std::uint8_t kRepCommandNotSupported = 0x07;
inline constexpr std::uint8_t kRepAddressTypeNotSupported = 0x08;

// RFC 1929 sub-negotiation: its own version byte, and STATUS 0 for success (any other value fails).
inline constexpr std::uint8_t kUserPassVersion = 0x01;
inline constexpr std::uint8_t kUserPassSuccess = 0x00;
inline constexpr std::uint8_t kUserPassFailure = 0x01;

struct Greeting {
  std::vector<std::uint8_t> methods;  // 1..255 entries, in the client's order
  bool offers(std::uint8_t method) const noexcept;
  friend bool operator==(const Greeting&, const Greeting&) = default;
};

// RFC 1929 leaves UNAME and PASSWD as opaque octets; they are compared, never logged.
struct UserPass {
  std::string user;  // 1..255 bytes
  std::string pass;  // 1..255 bytes
  friend bool operator==(const UserPass&, const UserPass&) = default;
};

struct Request {
  std::uint8_t cmd = kCmdConnect;  // any value: the session answers kRepCommandNotSupported itself
  Target target;
  friend bool operator==(const Request&, const Request&) = default;
};

// Errors: Errc::BadVersion for a VER other than 5, Errc::Malformed for NMETHODS 0.
[[nodiscard]] Result<Decoded<Greeting>> decode_greeting(ByteSpan in);
[[nodiscard]] Bytes encode_method_choice(std::uint8_t method);

// Errors: Errc::BadVersion for a VER other than 1, Errc::Malformed for an empty UNAME or PASSWD.
[[nodiscard]] Result<Decoded<UserPass>> decode_userpass(ByteSpan in);
[[nodiscard]] Bytes encode_userpass_status(bool ok);

// Errors: Errc::BadVersion (VER), Errc::Malformed (RSV not 0, a name that is empty or not printable
// ASCII 0x21..0x7E), Errc::Unsupported (an unknown ATYP: reply_for() turns it into REP 0x08).
[[nodiscard]] Result<Decoded<Request>> decode_request(ByteSpan in);

// The reply to a request. BND.ADDR/BND.PORT default to 0.0.0.0:0: the agent's own address towards
// the target is the relay's, which the client cannot use, and RFC 1928 clients ignore it for CONNECT.
[[nodiscard]] Bytes encode_reply(std::uint8_t rep, const Target& bound = Target::ipv4({0, 0, 0, 0}, 0));

// The client side of each message: for round-trip tests and fuzz targets. A name target longer than
// 255 bytes, or a list longer than 255 entries, is cut to 255 (the wire has one length byte).
[[nodiscard]] Bytes encode_greeting(const Greeting& g);
[[nodiscard]] Bytes encode_userpass(const UserPass& up);
[[nodiscard]] Bytes encode_request(const Request& r);

// The outcome table (docs/spec.md 7): the REP a client gets for what happened at the relay.
[[nodiscard]] std::uint8_t rep_for(frame::OpenCode code) noexcept;
// The REP for a request that failed to decode: an unknown ATYP is "address type not supported",
// anything else a general failure (RFC 1928 has no "malformed" reply).
[[nodiscard]] std::uint8_t rep_for(const Error& e) noexcept;

}  // namespace ferry::socks5
