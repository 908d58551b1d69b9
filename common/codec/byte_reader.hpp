// Bounds-checked reading and writing of big-endian wire integers. Every read returns nullopt past the
// end, so a decoder that runs out of bytes says "need more" instead of reading beyond the buffer.
// A failed read exhausts the reader: every later read fails too, so a decoder may read several fields
// and check only the last one (a short u32 followed by a u16 that happens to fit must not succeed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace ferry {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutByteSpan = std::span<std::uint8_t>;

class ByteReader {
 public:
  explicit ByteReader(ByteSpan in) noexcept : in_(in) {}

  std::optional<std::uint8_t> u8() noexcept {
    if (remaining() < 1) return exhaust(), std::nullopt;
    return in_[pos_++];
  }
  std::optional<std::uint16_t> be16() noexcept {
    if (remaining() < 2) return exhaust(), std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>(in_[pos_] << 8 | in_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> be32() noexcept {
    if (remaining() < 4) return exhaust(), std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | in_[pos_++];
    return v;
  }
  std::optional<std::uint64_t> be64() noexcept {
    if (remaining() < 8) return exhaust(), std::nullopt;
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | in_[pos_++];
    return v;
  }
  std::optional<ByteSpan> take(std::size_t n) noexcept {
    if (remaining() < n) return exhaust(), std::nullopt;
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  ByteSpan rest() noexcept {
    auto s = in_.subspan(pos_);
    pos_ = in_.size();
    return s;
  }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  std::size_t used() const noexcept { return pos_; }

  // True once a read has run past the end.
  bool exhausted() const noexcept { return exhausted_; }

 private:
  void exhaust() noexcept {
    pos_ = in_.size();
    exhausted_ = true;
  }
  ByteSpan in_;
  std::size_t pos_ = 0;
  bool exhausted_ = false;
};

// Writes into caller-owned memory; the caller sized it (the encoders compute exact sizes first).
class ByteWriter {
 public:
  explicit ByteWriter(MutByteSpan out) noexcept : out_(out) {}
  bool u8(std::uint8_t v) noexcept { return put(&v, 1); }
  bool be16(std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    return put(b, 2);
  }
  bool be32(std::uint32_t v) noexcept {
    std::uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    return put(b, 4);
  }
  bool be64(std::uint64_t v) noexcept {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
    return put(b, 8);
  }
  bool bytes(ByteSpan s) noexcept { return put(s.data(), s.size()); }
  std::size_t used() const noexcept { return pos_; }
  bool ok() const noexcept { return ok_; }

 private:
  bool put(const std::uint8_t* p, std::size_t n) noexcept {
    if (!ok_ || out_.size() - pos_ < n) return ok_ = false;
    for (std::size_t i = 0; i < n; ++i) out_[pos_ + i] = p[i];
    pos_ += n;
    return true;
  }
  MutByteSpan out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

inline void put_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

}  // namespace ferry
