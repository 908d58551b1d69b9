// Checks shared by the codec tests: every strict prefix of a valid message is "need more" (never an
// error, never a message), and the whole message decodes using every byte.
#pragma once

#include <catch2/catch.hpp>
#include <string_view>

#include "common/codec/byte_reader.hpp"

namespace ferry::test {

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// `decode` maps a ByteSpan to a Result<Decoded<M>>. Returns the decoded message of the whole input.
template <class F>
auto require_every_split(F decode, ByteSpan wire) {
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    INFO("prefix of " << cut << " bytes");
    auto part = decode(wire.first(cut));
    REQUIRE(part);
    REQUIRE_FALSE(part->msg);
    REQUIRE(part->used == 0);
  }
  auto whole = decode(wire);
  REQUIRE(whole);
  REQUIRE(whole->msg);
  REQUIRE(whole->used == wire.size());
  return *whole->msg;
}

}  // namespace ferry::test
