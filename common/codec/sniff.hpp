// Which protocol a local client speaks, from its first byte. Every agent port accepts all three
// (docs/spec.md 6.1 "Any scheme on any port"), so the listener looks at one byte and hands the connection on.
//
//   0x05  SOCKS5 greeting, VER field (RFC 1928 §3)
//   0x04  SOCKS4 / SOCKS4a request, VN field (SOCKS4 protocol, "SOCKS 4A" extension)
//   else  HTTP/1.x: a request line starts with a method token ("GET", "CONNECT", ...)
//
// Anything that is none of them goes to the HTTP front end, whose strict parser answers 400: a
// protocol-correct error is more useful to a confused user than a silent close.
#pragma once

#include <cstdint>

namespace ferry::sniff {

enum class Protocol : std::uint8_t { Socks5, Socks4, Http };

[[nodiscard]] Protocol sniff(std::uint8_t first_byte) noexcept;
const char* protocol_name(Protocol p) noexcept;

}  // namespace ferry::sniff
