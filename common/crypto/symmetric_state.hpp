// Noise SymmetricState (Noise spec §5.2) with SHA-256 and HKDF built from libsodium's HMAC-SHA256.
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "common/crypto/cipher_state.hpp"

namespace ferry::crypto {

inline constexpr std::size_t kHashBytes = 32;
using Hash = std::array<std::uint8_t, kHashBytes>;

// HKDF(ck, ikm) of Noise §4.3 with two or three outputs, each HASHLEN bytes.
void hkdf2(const Hash& ck, ByteSpan ikm, Hash& out1, Hash& out2) noexcept;
void hkdf3(const Hash& ck, ByteSpan ikm, Hash& out1, Hash& out2, Hash& out3) noexcept;

class SymmetricState {
 public:
  SymmetricState() = default;
  ~SymmetricState();  // wipes ck and h; a moved-from state wipes its own copy
  SymmetricState(SymmetricState&&) noexcept = default;
  SymmetricState& operator=(SymmetricState&&) noexcept = default;
  // A name of at most 32 bytes is used raw as h (padded with zeros); a longer one is hashed.
  // "Noise_IK_25519_ChaChaPoly_SHA256" is exactly 32 bytes, so it is used raw. `suite` is the
  // cipher the name names.
  void initialize(std::string_view protocol_name, CipherSuite suite) noexcept;
  void mix_key(ByteSpan ikm) noexcept;
  void mix_hash(ByteSpan data) noexcept;
  // out must have room for plain.size() + 16 (when a key is set).
  Result<std::size_t> encrypt_and_hash(ByteSpan plain, std::uint8_t* out) noexcept;
  Result<std::size_t> decrypt_and_hash(ByteSpan cipher, std::uint8_t* out) noexcept;
  // Returns (c1, c2): c1 encrypts initiator-to-responder, c2 the other way.
  std::pair<CipherState, CipherState> split() noexcept;
  const Hash& handshake_hash() const noexcept { return h_; }
  bool has_key() const noexcept { return cs_.has_key(); }
  CipherSuite suite() const noexcept { return suite_; }

 private:
  Hash ck_{};
  Hash h_{};
  CipherState cs_;
  CipherSuite suite_ = CipherSuite::ChaChaPoly;
};

}  // namespace ferry::crypto
