// Noise CipherState (Noise spec §5.1) for ChaChaPoly (§12.3) and AESGCM (§12.2): a key, a 64-bit
// counter nonce and the suite. The 96-bit nonce is 4 zero bytes then the counter: little-endian for
// ChaCha20-Poly1305, big-endian for AES-256-GCM.
//
// The AEAD itself is OpenSSL libcrypto's, not libsodium's: ChaCha20-Poly1305 is the same primitive,
// faster on this hardware (vector code up to AVX-512), and it is the link's largest cost per byte
// (docs/decisions/0005-libcrypto-transport-aead.md); libsodium's AES-256-GCM is slower than
// libcrypto's and absent without AES-NI. The published Noise vectors and a byte-for-byte comparison with
// libsodium (tests/unit/cipher_state_test.cpp) hold both to the same output.
#pragma once

#include <cstdint>

#include "common/codec/byte_reader.hpp"
#include "common/crypto/cipher_suite.hpp"
#include "common/result.hpp"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace ferry::crypto {

inline constexpr std::size_t kTagBytes = 16;

class CipherState {
 public:
  // 2^64-1 is reserved by Noise (§5.1) for REKEY; a message may never use it.
  static constexpr std::uint64_t kReservedNonce = ~std::uint64_t{0};

  CipherState() = default;
  ~CipherState();
  CipherState(const CipherState&) = delete;
  CipherState& operator=(const CipherState&) = delete;
  CipherState(CipherState&& o) noexcept;
  CipherState& operator=(CipherState&& o) noexcept;

  void initialize_key(const std::uint8_t* key32, CipherSuite suite) noexcept;
  bool has_key() const noexcept { return ctx_ != nullptr; }
  CipherSuite suite() const noexcept { return suite_; }
  void set_nonce(std::uint64_t n) noexcept { n_ = n; }
  std::uint64_t nonce() const noexcept { return n_; }

  // Writes n + 16 bytes to `out`; `out` may equal `plain` (encryption in place). Advances the nonce.
  // Without a key the bytes pass unchanged, as the Noise spec says.
  Result<std::size_t> encrypt(ByteSpan ad, const std::uint8_t* plain, std::size_t n,
                              std::uint8_t* out) noexcept;
  // Writes n - 16 bytes to `out`; `out` may equal `cipher`. A failure leaves the nonce where it was,
  // so a forged message cannot desynchronise the counter, and zeroes `out`, so no unauthenticated
  // plaintext is left behind.
  Result<std::size_t> decrypt(ByteSpan ad, const std::uint8_t* cipher, std::size_t n,
                              std::uint8_t* out) noexcept;
  // REKEY (§4.2, §11.3): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros). The nonce is kept.
  void rekey() noexcept;

 private:
  // Holds the key (OpenSSL wipes it on free); null until a key is set.
  EVP_CIPHER_CTX* ctx_ = nullptr;
  std::uint64_t n_ = 0;
  CipherSuite suite_ = CipherSuite::ChaChaPoly;
};

}  // namespace ferry::crypto
