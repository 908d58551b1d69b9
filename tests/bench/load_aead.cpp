// This machine's crypto ceiling: single-core AEAD encryption of 65,519-byte records (the link's
// record: 65,535 bytes on the wire with the 16-byte tag), for what ferry uses now (libsodium's
// ChaCha20-Poly1305) and what it may use next (OpenSSL's EVP ChaCha20-Poly1305), beside the AES-GCM
// ciphers the peers negotiate.
#include "tests/bench/load_aead.hpp"

#include <sodium.h>

#include <functional>

#include "tests/bench/load_common.hpp"

#ifdef FERRY_BENCH_OPENSSL
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

namespace ferry::bench {
namespace {

constexpr std::size_t kRecordBytes = 65519;

// Runs `encrypt_one` (which seals one record with a fresh nonce) for `seconds`; returns MB/s.
double measure(double seconds, const std::function<bool(std::uint64_t)>& encrypt_one) {
  std::uint64_t records = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    for (int i = 0; i < 32; ++i)
      if (!encrypt_one(records++)) return 0;
  }
  return static_cast<double>(records * kRecordBytes) / seconds_since(start) / 1e6;
}

void report(const char* name, double mb_per_s) {
  JsonLine("aead")
      .add("name", name)
      .add("record_bytes", static_cast<int>(kRecordBytes))
      .add("mb_per_s", mb_per_s)
      .print();
}

#ifdef FERRY_BENCH_OPENSSL
double openssl_rate(const EVP_CIPHER* cipher, double seconds, std::vector<std::uint8_t>& in,
                    std::vector<std::uint8_t>& out) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::uint8_t key[32] = {1}, iv[12] = {};
  if (!ctx || EVP_EncryptInit_ex(ctx, cipher, nullptr, key, iv) != 1) return EVP_CIPHER_CTX_free(ctx), 0;
  const double rate = measure(seconds, [&](std::uint64_t n) {
    put_be(iv + 4, n, 8);
    int len = 0, fin = 0;
    return EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) == 1 &&
           EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(kRecordBytes)) == 1 &&
           EVP_EncryptFinal_ex(ctx, out.data() + len, &fin) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data() + kRecordBytes) == 1;
  });
  EVP_CIPHER_CTX_free(ctx);
  return rate;
}
#endif

}  // namespace

int run_aead(double seconds) {
  if (sodium_init() < 0) return 1;
  std::vector<std::uint8_t> in(kRecordBytes), out(kRecordBytes + 16);
  randombytes_buf(in.data(), in.size());
  std::uint8_t key[32] = {1}, nonce[12] = {};

  report("libsodium chacha20poly1305_ietf", measure(seconds, [&](std::uint64_t n) {
           put_be(nonce + 4, n, 8);
           unsigned long long clen = 0;
           return crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &clen, in.data(), kRecordBytes,
                                                            nullptr, 0, nullptr, nonce, key) == 0;
         }));
#ifdef FERRY_BENCH_OPENSSL
  report("OpenSSL chacha20-poly1305", openssl_rate(EVP_chacha20_poly1305(), seconds, in, out));
  report("OpenSSL aes-128-gcm", openssl_rate(EVP_aes_128_gcm(), seconds, in, out));
  report("OpenSSL aes-256-gcm", openssl_rate(EVP_aes_256_gcm(), seconds, in, out));
  const char* openssl = OpenSSL_version(OPENSSL_VERSION);
#else
  const char* openssl = "not built (no libssl-dev)";
#endif
  JsonLine("versions").add("libsodium", sodium_version_string()).add("openssl", openssl).print();
  return 0;
}

}  // namespace ferry::bench
