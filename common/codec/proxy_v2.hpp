// The PROXY protocol, version 2 (HAProxy's "The PROXY protocol", section 2.2): the header a load
// balancer (HAProxy `send-proxy-v2`, cloud NLBs) writes at the start of a TCP connection, so that the
// relay behind it learns the agent's real address. The relay reads it only from addresses it trusts
// (relay.toml [proxy_protocol] trusted), before any cryptography.
//
//   +------------------------------------------+-----+-----+--------+----------------------+
//   | signature \r\n\r\n\0\r\nQUIT\n (12)      | v/c | f/t | len BE | addresses, then TLVs |
//   +------------------------------------------+-----+-----+--------+----------------------+
//   v/c: high nibble version 2; low nibble command, 0 LOCAL (the balancer's own health check: the
//        connection's real addresses stand) or 1 PROXY
//   f/t: high nibble family 1 AF_INET / 2 AF_INET6, low nibble transport 1 STREAM
//   addresses: IPv4 src(4) dst(4) sport(2) dport(2) = 12 bytes; IPv6 16 + 16 + 2 + 2 = 36 bytes.
//   TLVs (len beyond the addresses) are skipped.
//
// PROXY for UNSPEC, UNIX or DGRAM is refused: every link must come with a source address for the
// per-source limits, and a link is TCP. A header longer than kMaxHeaderBytes is refused too: what a
// load balancer sends (addresses and a few TLVs) fits many times over.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/codec/byte_reader.hpp"
#include "common/codec/decoded.hpp"
#include "common/policy/address.hpp"
#include "common/result.hpp"

namespace ferry::proxy_v2 {

inline constexpr std::array<std::uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr std::size_t kFixedBytes = 16;  // signature, version/command, family, length
inline constexpr std::size_t kMaxHeaderBytes = 1024;

struct Endpoint {
  policy::Address address;
  std::uint16_t port = 0;
  // "192.0.2.7:51000", "[2001:db8::7]:51000": as the relay's logs write a peer.
  std::string to_string() const;
};

struct Header {
  bool local = false;    // LOCAL: no addresses; the connection's own endpoints stand
  Endpoint source;       // PROXY only
  Endpoint destination;  // PROXY only
};

// A header at the start of `in`: the header and its length, "need more" for a strict prefix of one,
// or an error (Errc::Malformed not a PROXY v2 header; BadVersion; Unsupported: a family, transport or
// command a link cannot have; TooLarge). Needs at most kFixedBytes before the length is known.
Result<Decoded<Header>> decode(ByteSpan in);

// True when `in` (however short) could be the start of a PROXY v2 header: its first bytes match the
// signature's. A relay that trusts nobody uses it to count headers from untrusted addresses.
bool starts_like_header(ByteSpan in) noexcept;

// A header for tests and the fuzz corpus: PROXY from `source` to `destination` (same family), or
// LOCAL, with `tlv_bytes` of padding TLV (type 0x04, NOOP) after the addresses.
Bytes encode(const Header& h, std::size_t tlv_bytes = 0);

}  // namespace ferry::proxy_v2
