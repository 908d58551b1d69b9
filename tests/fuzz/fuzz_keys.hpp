// Fixed keys for the fuzz targets and their seed generator, so a seed made once stays valid.
#pragma once

#include "common/crypto/keys.hpp"

namespace ferry::fuzz {

inline crypto::SecretKey fixed_key(std::uint8_t fill) {
  std::uint8_t raw[32];
  for (auto& b : raw) b = fill;
  return crypto::SecretKey::adopt(raw);
}
inline const crypto::SecretKey& relay_key() {
  static const crypto::SecretKey k = fixed_key(0x11);
  return k;
}
inline const crypto::SecretKey& agent_key() {
  static const crypto::SecretKey k = fixed_key(0x22);
  return k;
}

}  // namespace ferry::fuzz
