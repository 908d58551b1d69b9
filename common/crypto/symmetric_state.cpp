#include "common/crypto/symmetric_state.hpp"

#include <sodium.h>

#include <cstring>

namespace ferry::crypto {
namespace {

void hmac(const std::uint8_t* key, std::size_t key_len, ByteSpan a, ByteSpan b, Hash& out) noexcept {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, key_len);
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
}

}  // namespace

void hkdf3(const Hash& ck, ByteSpan ikm, Hash& out1, Hash& out2, Hash& out3) noexcept {
  Hash temp;
  hmac(ck.data(), ck.size(), ikm, {}, temp);
  const std::uint8_t one = 1, two = 2, three = 3;
  hmac(temp.data(), temp.size(), ByteSpan(&one, 1), {}, out1);
  hmac(temp.data(), temp.size(), out1, ByteSpan(&two, 1), out2);
  hmac(temp.data(), temp.size(), out2, ByteSpan(&three, 1), out3);
  sodium_memzero(temp.data(), temp.size());
}

void hkdf2(const Hash& ck, ByteSpan ikm, Hash& out1, Hash& out2) noexcept {
  Hash temp;
  hmac(ck.data(), ck.size(), ikm, {}, temp);
  const std::uint8_t one = 1, two = 2;
  hmac(temp.data(), temp.size(), ByteSpan(&one, 1), {}, out1);
  hmac(temp.data(), temp.size(), out1, ByteSpan(&two, 1), out2);
  sodium_memzero(temp.data(), temp.size());
}

SymmetricState::~SymmetricState() {
  sodium_memzero(ck_.data(), ck_.size());
  sodium_memzero(h_.data(), h_.size());
}

void SymmetricState::initialize(std::string_view protocol_name, CipherSuite suite) noexcept {
  suite_ = suite;
  h_.fill(0);
  if (protocol_name.size() <= kHashBytes) {
    std::memcpy(h_.data(), protocol_name.data(), protocol_name.size());
  } else {
    crypto_hash_sha256(h_.data(), reinterpret_cast<const unsigned char*>(protocol_name.data()),
                       protocol_name.size());
  }
  ck_ = h_;
  cs_ = CipherState{};
}

void SymmetricState::mix_key(ByteSpan ikm) noexcept {
  Hash temp_k;
  hkdf2(ck_, ikm, ck_, temp_k);
  cs_.initialize_key(temp_k.data(), suite_);  // HASHLEN is 32, the key size: no truncation needed
  sodium_memzero(temp_k.data(), temp_k.size());
}

void SymmetricState::mix_hash(ByteSpan data) noexcept {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, h_.data(), h_.size());
  crypto_hash_sha256_update(&st, data.data(), data.size());
  crypto_hash_sha256_final(&st, h_.data());
}

Result<std::size_t> SymmetricState::encrypt_and_hash(ByteSpan plain, std::uint8_t* out) noexcept {
  auto n = cs_.encrypt(h_, plain.data(), plain.size(), out);
  if (!n) return n;
  mix_hash(ByteSpan(out, *n));
  return n;
}

Result<std::size_t> SymmetricState::decrypt_and_hash(ByteSpan cipher, std::uint8_t* out) noexcept {
  // h must absorb the ciphertext, so hash it before `out` may overwrite it in place.
  Hash next;
  {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h_.data(), h_.size());
    crypto_hash_sha256_update(&st, cipher.data(), cipher.size());
    crypto_hash_sha256_final(&st, next.data());
  }
  auto n = cs_.decrypt(h_, cipher.data(), cipher.size(), out);
  if (!n) return n;
  h_ = next;
  return n;
}

std::pair<CipherState, CipherState> SymmetricState::split() noexcept {
  Hash k1, k2;
  hkdf2(ck_, {}, k1, k2);
  std::pair<CipherState, CipherState> out;
  out.first.initialize_key(k1.data(), suite_);
  out.second.initialize_key(k2.data(), suite_);
  sodium_memzero(k1.data(), k1.size());
  sodium_memzero(k2.data(), k2.size());
  return out;
}

}  // namespace ferry::crypto
