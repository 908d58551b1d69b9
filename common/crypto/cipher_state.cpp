#include "common/crypto/cipher_state.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ferry::crypto {
namespace {

void make_nonce(CipherSuite suite, std::uint64_t n, std::uint8_t (&out)[12]) noexcept {
  std::memset(out, 0, 4);
  if (suite == CipherSuite::AesGcm) {
    for (int i = 0; i < 8; ++i) out[11 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  } else {
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  }
}

// libcrypto fails these calls only on allocation failure or misuse (a bad length): neither can be
// handled by the caller of a cipher, and going on would send or accept unauthenticated bytes.
void require(int ok, const char* what) noexcept {
  if (ok == 1) return;
  std::fprintf(stderr, "ferry: the libcrypto AEAD failed in %s\n", what);
  std::abort();
}

// One AEAD pass; `encrypt` chooses the direction. Returns false only when a decrypt's tag is wrong.
bool seal_or_open(EVP_CIPHER_CTX* ctx, CipherSuite suite, bool encrypt, std::uint64_t n, ByteSpan ad,
                  const std::uint8_t* in, std::size_t len, std::uint8_t* out, std::uint8_t* tag) noexcept {
  std::uint8_t nonce[12];
  make_nonce(suite, n, nonce);
  require(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, encrypt ? 1 : 0), "init");
  int outl = 0;
  if (!ad.empty())
    require(EVP_CipherUpdate(ctx, nullptr, &outl, ad.data(), static_cast<int>(ad.size())), "ad");
  if (len > 0) require(EVP_CipherUpdate(ctx, out, &outl, in, static_cast<int>(len)), "update");
  if (encrypt) {
    require(EVP_CipherFinal_ex(ctx, out + len, &outl), "final");
    require(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, tag), "tag");
    return true;
  }
  require(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag), "tag");
  return EVP_CipherFinal_ex(ctx, out + len, &outl) == 1;
}

}  // namespace

CipherState::~CipherState() { EVP_CIPHER_CTX_free(ctx_); }

CipherState::CipherState(CipherState&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), n_(std::exchange(o.n_, 0)), suite_(o.suite_) {}

CipherState& CipherState::operator=(CipherState&& o) noexcept {
  if (this != &o) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
    n_ = std::exchange(o.n_, 0);
    suite_ = o.suite_;
  }
  return *this;
}

void CipherState::initialize_key(const std::uint8_t* key32, CipherSuite suite) noexcept {
  if (ctx_ != nullptr && suite != suite_) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  suite_ = suite;
  if (ctx_ == nullptr) {
    ctx_ = EVP_CIPHER_CTX_new();
    require(ctx_ != nullptr, "allocation");
    const EVP_CIPHER* cipher = suite == CipherSuite::AesGcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
    require(EVP_CipherInit_ex(ctx_, cipher, nullptr, nullptr, nullptr, 1), "setup");
  }
  require(EVP_CipherInit_ex(ctx_, nullptr, nullptr, key32, nullptr, -1), "key");
  n_ = 0;
}

Result<std::size_t> CipherState::encrypt(ByteSpan ad, const std::uint8_t* plain, std::size_t n,
                                         std::uint8_t* out) noexcept {
  if (ctx_ == nullptr) {
    if (out != plain) std::memmove(out, plain, n);
    return n;
  }
  if (n_ == kReservedNonce) return fail(Errc::NonceExhausted, "the send nonce reached 2^64-1");
  if (n > INT_MAX - kTagBytes || ad.size() > INT_MAX) return fail(Errc::TooLarge, "a message over 2 GiB");
  seal_or_open(ctx_, suite_, true, n_, ad, plain, n, out, out + n);
  ++n_;
  return n + kTagBytes;
}

Result<std::size_t> CipherState::decrypt(ByteSpan ad, const std::uint8_t* cipher, std::size_t n,
                                         std::uint8_t* out) noexcept {
  if (ctx_ == nullptr) {
    if (out != cipher) std::memmove(out, cipher, n);
    return n;
  }
  if (n < kTagBytes) return fail(Errc::Malformed, "a ciphertext shorter than its tag");
  if (n_ == kReservedNonce) return fail(Errc::NonceExhausted, "the receive nonce reached 2^64-1");
  if (n > INT_MAX || ad.size() > INT_MAX) return fail(Errc::TooLarge, "a message over 2 GiB");
  const std::size_t len = n - kTagBytes;
  // The tag is copied out first: decrypting in place overwrites the bytes before it, never the tag,
  // but libcrypto reads the tag only at the end.
  std::uint8_t tag[kTagBytes];
  std::memcpy(tag, cipher + len, kTagBytes);
  if (!seal_or_open(ctx_, suite_, false, n_, ad, cipher, len, out, tag)) {
    sodium_memzero(out, len);
    return fail(Errc::DecryptFailed, "the authentication tag does not match");
  }
  ++n_;
  return len;
}

void CipherState::rekey() noexcept {
  if (ctx_ == nullptr) return;
  std::uint8_t zeros[32] = {};
  std::uint8_t out[32 + kTagBytes];
  seal_or_open(ctx_, suite_, true, kReservedNonce, {}, zeros, sizeof zeros, out, out + 32);
  require(EVP_CipherInit_ex(ctx_, nullptr, nullptr, out, nullptr, -1), "key");
  sodium_memzero(out, sizeof out);
}

}  // namespace ferry::crypto
