// The traps the published vectors do not catch (vectors/README.md): nonce layout at large counters,
// the reserved nonce, decrypt failure not advancing the counter, REKEY, small-order keys.
#include "common/crypto/cipher_state.hpp"

#include <sodium.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>

#include "common/crypto/handshake_ik.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using crypto::CipherState;

namespace {

const std::uint8_t kKey[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

// What Noise says the ciphertext must be, computed by libsodium: the nonce is 32 bits of zeros, then
// n as 64-bit little-endian for ChaChaPoly (§12.3), big-endian for AESGCM (§12.2).
Bytes reference(crypto::CipherSuite suite, std::uint64_t n, ByteSpan plain, const std::uint8_t* key = kKey) {
  std::uint8_t nonce[12] = {};
  Bytes out(plain.size() + 16);
  unsigned long long len = 0;
  if (suite == crypto::CipherSuite::AesGcm) {
    for (int i = 0; i < 8; ++i) nonce[11 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    crypto_aead_aes256gcm_encrypt(out.data(), &len, plain.data(), plain.size(), nullptr, 0, nullptr, nonce,
                                  key);
  } else {
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, plain.data(), plain.size(), nullptr, 0,
                                              nullptr, nonce, key);
  }
  return out;
}

// Both suites, each where libsodium can check it (its AES-256-GCM needs AES-NI and PCLMUL).
std::vector<crypto::CipherSuite> checkable_suites() {
  std::vector<crypto::CipherSuite> out{crypto::CipherSuite::ChaChaPoly};
  REQUIRE(sodium_init() >= 0);
  if (crypto_aead_aes256gcm_is_available())
    out.push_back(crypto::CipherSuite::AesGcm);
  else
    WARN("libsodium has no AES-256-GCM on this CPU: the AESGCM nonce layout is checked by the vectors only");
  return out;
}

}  // namespace

TEST_CASE("nonce layout at n = 0, 1, 2^32 and 2^64-2, for both suites", "[noise][nonce]") {
  const Bytes plain = {'f', 'e', 'r', 'r', 'y'};
  for (const auto suite : checkable_suites())
    for (std::uint64_t n :
         {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 32, ~std::uint64_t{0} - 1}) {
      INFO(crypto::suite_name(suite) << " n " << n);
      CipherState cs;
      cs.initialize_key(kKey, suite);
      CHECK(cs.suite() == suite);
      cs.set_nonce(n);
      Bytes out(plain.size() + 16);
      REQUIRE(cs.encrypt({}, plain.data(), plain.size(), out.data()));
      CHECK(out == reference(suite, n, plain));
      CHECK(cs.nonce() == n + 1);

      CipherState rx;
      rx.initialize_key(kKey, suite);
      rx.set_nonce(n);
      Bytes back(plain.size());
      REQUIRE(rx.decrypt({}, out.data(), out.size(), back.data()));
      CHECK(back == plain);
    }
}

TEST_CASE("the reserved nonce 2^64-1 is never used", "[noise][nonce]") {
  CipherState cs;
  cs.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
  cs.set_nonce(~std::uint64_t{0} - 1);
  std::uint8_t buf[32] = {};
  REQUIRE(cs.encrypt({}, buf, 8, buf));  // uses 2^64-2
  auto r = cs.encrypt({}, buf, 8, buf);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::NonceExhausted);
  CHECK(cs.nonce() == ~std::uint64_t{0});

  CipherState rx;
  rx.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
  rx.set_nonce(~std::uint64_t{0});
  auto d = rx.decrypt({}, buf, 24, buf);
  REQUIRE_FALSE(d);
  CHECK(d.error().code == Errc::NonceExhausted);
}

TEST_CASE("a failed decrypt does not advance the nonce", "[noise][nonce]") {
  CipherState tx, rx;
  tx.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
  rx.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
  const Bytes plain = {1, 2, 3};
  Bytes good(19);
  REQUIRE(tx.encrypt({}, plain.data(), plain.size(), good.data()));
  Bytes forged = good;
  forged[0] ^= 1;
  Bytes out(3);
  auto bad = rx.decrypt({}, forged.data(), forged.size(), out.data());
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::DecryptFailed);
  CHECK(rx.nonce() == 0);
  REQUIRE(rx.decrypt({}, good.data(), good.size(), out.data()));
  CHECK(out == plain);
  CHECK(rx.nonce() == 1);
  auto too_short = rx.decrypt({}, good.data(), 15, out.data());
  CHECK_FALSE(too_short);
}

TEST_CASE("REKEY is ENCRYPT(k, 2^64-1, empty, zeros)[0..32] and keeps the nonce", "[noise][rekey]") {
  for (const auto suite : checkable_suites()) {
    INFO(crypto::suite_name(suite));
    CipherState cs;
    cs.initialize_key(kKey, suite);
    cs.set_nonce(7);
    cs.rekey();
    CHECK(cs.nonce() == 7);
    CHECK(cs.suite() == suite);
    const Bytes zeros(32, 0);
    const Bytes next_key = reference(suite, ~std::uint64_t{0}, zeros);
    std::uint8_t a[24] = {};
    REQUIRE(cs.encrypt({}, a, 8, a));
    const Bytes expect = reference(suite, 7, Bytes(8, 0), next_key.data());
    CHECK(Bytes(a, a + 24) == expect);
  }
}

TEST_CASE("a CipherState keyed again for the other suite uses that suite", "[noise][suite]") {
  const auto suites = checkable_suites();
  if (suites.size() < 2) return;
  const Bytes plain = {'s', 'w', 'a', 'p'};
  CipherState cs;
  for (const auto suite :
       {crypto::CipherSuite::AesGcm, crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm}) {
    cs.initialize_key(kKey, suite);
    Bytes out(plain.size() + 16);
    REQUIRE(cs.encrypt({}, plain.data(), plain.size(), out.data()));
    CHECK(out == reference(suite, 0, plain));
  }
  // The two suites never agree on a ciphertext.
  CHECK(reference(crypto::CipherSuite::AesGcm, 0, plain) !=
        reference(crypto::CipherSuite::ChaChaPoly, 0, plain));
}

TEST_CASE("small-order public keys are refused", "[noise][keys]") {
  // Points of order 1, 2, 4 and 8 on Curve25519 (and their non-canonical forms): DH gives zero.
  const char* small_order[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  const auto sk = crypto::SecretKey::generate();
  for (const char* h : small_order) {
    INFO(h);
    crypto::PublicKey pk;
    const Bytes b = test::hex(h);
    std::copy(b.begin(), b.end(), pk.bytes.begin());
    std::uint8_t out[32];
    auto r = crypto::dh(sk, pk, out);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::BadKey);
  }

  // A message 1 whose ephemeral key is small-order is refused by the responder before anything else.
  const auto rs = crypto::SecretKey::generate();
  auto resp = crypto::HandshakeIK::responder(rs, {});
  Bytes msg1(crypto::kMessage1Overhead, 0);  // e = all zeros
  auto who = resp.read_message1_identity(msg1);
  REQUIRE_FALSE(who);
  CHECK(who.error().code == Errc::BadKey);

  // An initiator told to talk to a small-order "relay key" refuses to write message 1.
  const auto is = crypto::SecretKey::generate();
  auto init = crypto::HandshakeIK::initiator(is, crypto::PublicKey{}, {});
  CHECK_FALSE(init.write_message1({}));
}

TEST_CASE("libcrypto's ChaCha20-Poly1305 matches libsodium's byte for byte", "[noise][aead]") {
  // The link encrypts with libcrypto; libsodium is the independent reference (and what the
  // handshake's key derivation is built on). Lengths around the vector-code block sizes.
  const Bytes ad = {'a', 'd'};
  for (std::size_t len :
       {0u, 1u, 15u, 16u, 63u, 64u, 65u, 255u, 256u, 257u, 511u, 512u, 4095u, 16384u, 65519u}) {
    INFO(len);
    Bytes plain(len);
    if (len > 0) randombytes_buf(plain.data(), plain.size());  // an empty vector's data() may be null
    const std::uint64_t n = 1000 + len;
    CipherState cs;
    cs.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
    cs.set_nonce(n);
    Bytes sealed = plain;
    sealed.resize(len + 16);
    REQUIRE(cs.encrypt(ad, sealed.data(), len, sealed.data()));  // in place

    std::uint8_t nonce[12] = {};
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    Bytes expect(len + 16);
    unsigned long long elen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(expect.data(), &elen, plain.data(), len, ad.data(), ad.size(),
                                              nullptr, nonce, kKey);
    CHECK(sealed == expect);

    CipherState rx;
    rx.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
    rx.set_nonce(n);
    Bytes opened = sealed;
    auto got = rx.decrypt(ad, opened.data(), opened.size(), opened.data());  // in place
    REQUIRE(got);
    CHECK(*got == len);
    opened.resize(len);
    CHECK(opened == plain);

    if (len > 0) {  // a forged record leaves no plaintext behind, and the wrong AD is a forgery too
      CipherState rx2;
      rx2.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
      rx2.set_nonce(n);
      Bytes forged = sealed;
      auto bad = rx2.decrypt(Bytes{'x'}, forged.data(), forged.size(), forged.data());
      REQUIRE_FALSE(bad);
      CHECK(bad.error().code == Errc::DecryptFailed);
      CHECK(std::all_of(forged.begin(), forged.begin() + static_cast<std::ptrdiff_t>(len),
                        [](std::uint8_t b) { return b == 0; }));
    }
  }
}

TEST_CASE("a moved-from CipherState has no key", "[noise]") {
  CipherState a;
  a.initialize_key(kKey, crypto::CipherSuite::ChaChaPoly);
  CipherState b = std::move(a);
  CHECK(b.has_key());
  CHECK_FALSE(a.has_key());  // NOLINT(bugprone-use-after-move): the state after a move is the point
  std::uint8_t buf[3] = {1, 2, 3};
  REQUIRE(a.encrypt({}, buf, 3, buf));  // without a key Noise passes bytes unchanged
  CHECK(buf[0] == 1);
}
