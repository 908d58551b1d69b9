#include "common/crypto/tai64n.hpp"

namespace ferry::crypto {

Tai64n tai64n_from(std::chrono::system_clock::time_point t) noexcept {
  using namespace std::chrono;
  const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::uint64_t>(ns / 1'000'000'000);
  const auto nanos = static_cast<std::uint32_t>(ns % 1'000'000'000);
  const std::uint64_t label = (std::uint64_t{1} << 62) + 10 + secs;
  Tai64n out{};
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(label >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<std::uint8_t>(nanos >> (24 - 8 * i));
  return out;
}

}  // namespace ferry::crypto
