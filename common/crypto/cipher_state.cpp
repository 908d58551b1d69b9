#include "common/crypto/cipher_state.hpp"

#include <sodium.h>

#include <cstring>

namespace ferry::crypto {
namespace {

void make_nonce(std::uint64_t n, std::uint8_t (&out)[12]) noexcept {
  std::memset(out, 0, 4);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
}

}  // namespace

CipherState::~CipherState() { sodium_memzero(k_.data(), k_.size()); }

CipherState::CipherState(CipherState&& o) noexcept : k_(o.k_), n_(o.n_), has_key_(o.has_key_) {
  sodium_memzero(o.k_.data(), o.k_.size());
  o.has_key_ = false;
  o.n_ = 0;
}

CipherState& CipherState::operator=(CipherState&& o) noexcept {
  if (this != &o) {
    k_ = o.k_;
    n_ = o.n_;
    has_key_ = o.has_key_;
    sodium_memzero(o.k_.data(), o.k_.size());
    o.has_key_ = false;
    o.n_ = 0;
  }
  return *this;
}

void CipherState::initialize_key(const std::uint8_t* key32) noexcept {
  std::memcpy(k_.data(), key32, k_.size());
  has_key_ = true;
  n_ = 0;
}

Result<std::size_t> CipherState::encrypt(ByteSpan ad, const std::uint8_t* plain, std::size_t n,
                                         std::uint8_t* out) noexcept {
  if (!has_key_) {
    if (out != plain) std::memmove(out, plain, n);
    return n;
  }
  if (n_ == kReservedNonce) return fail(Errc::NonceExhausted, "the send nonce reached 2^64-1");
  std::uint8_t nonce[12];
  make_nonce(n_, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, plain, n, ad.data(), ad.size(), nullptr, nonce,
                                            k_.data());
  ++n_;
  return static_cast<std::size_t>(clen);
}

Result<std::size_t> CipherState::decrypt(ByteSpan ad, const std::uint8_t* cipher, std::size_t n,
                                         std::uint8_t* out) noexcept {
  if (!has_key_) {
    if (out != cipher) std::memmove(out, cipher, n);
    return n;
  }
  if (n < kTagBytes) return fail(Errc::Malformed, "a ciphertext shorter than its tag");
  if (n_ == kReservedNonce) return fail(Errc::NonceExhausted, "the receive nonce reached 2^64-1");
  std::uint8_t nonce[12];
  make_nonce(n_, nonce);
  unsigned long long mlen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, nullptr, cipher, n, ad.data(), ad.size(), nonce,
                                                k_.data()) != 0)
    return fail(Errc::DecryptFailed, "the authentication tag does not match");
  ++n_;
  return static_cast<std::size_t>(mlen);
}

void CipherState::rekey() noexcept {
  std::uint8_t zeros[32] = {};
  std::uint8_t out[32 + kTagBytes];
  std::uint8_t nonce[12];
  make_nonce(kReservedNonce, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, zeros, sizeof zeros, nullptr, 0, nullptr, nonce,
                                            k_.data());
  std::memcpy(k_.data(), out, 32);
  sodium_memzero(out, sizeof out);
}

}  // namespace ferry::crypto
