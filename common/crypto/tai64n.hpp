// TAI64N timestamps (cr.yp.to/libtai/tai64.html), 12 bytes: 8-byte big-endian 2^62 + 10 + seconds
// since 1970 (the 10 s TAI offset WireGuard also adds), then 4-byte big-endian nanoseconds.
// Big-endian makes "newer" a plain byte comparison.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace ferry::crypto {

using Tai64n = std::array<std::uint8_t, 12>;

Tai64n tai64n_from(std::chrono::system_clock::time_point t) noexcept;
inline bool newer(const Tai64n& a, const Tai64n& b) noexcept { return a > b; }  // lexicographic

}  // namespace ferry::crypto
