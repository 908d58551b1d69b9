// Helpers shared by the unit tests: hex, deterministic bytes, a scratch directory.
#pragma once

#include <string>
#include <string_view>

#include "common/codec/byte_reader.hpp"
#include "common/crypto/keys.hpp"

namespace ferry::test {

Bytes hex(std::string_view h);
std::string to_hex(ByteSpan b);
crypto::SecretKey secret_from_hex(std::string_view h);
// Bytes that depend on (seed, offset) only, so a receiver can check any slice without a copy.
void pattern(std::uint64_t seed, std::uint64_t offset, MutByteSpan out);
// A fresh directory under $TMPDIR, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

}  // namespace ferry::test
