// The agent's cipher choice (docs/protocol.md 2.5), sans-I/O: what each handshake offers after the
// last one failed or succeeded, and what is said about it, once.
#include "agent/cipher_choice.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using agent::CipherChoice;
using crypto::CipherSuite;
using crypto::SuiteSet;

TEST_CASE("auto offers AES-256-GCM where the CPU has AES instructions, else ChaCha20-Poly1305",
          "[cipher_choice]") {
  CHECK(CipherChoice(std::nullopt, true).next() == CipherSuite::AesGcm);
  CHECK(CipherChoice(std::nullopt, false).next() == CipherSuite::ChaChaPoly);
  CHECK(CipherChoice(CipherSuite::ChaChaPoly, true).next() == CipherSuite::ChaChaPoly);
  CHECK(CipherChoice(CipherSuite::AesGcm, false).next() == CipherSuite::AesGcm);
}

TEST_CASE("an unanswered AES-256-GCM handshake falls back to ChaCha20-Poly1305 until a relay lists AES again",
          "[cipher_choice]") {
  CipherChoice c(std::nullopt, true);
  auto said = c.handshake_unanswered(CipherSuite::AesGcm);
  REQUIRE(said);
  CHECK(said->find("offering ChaCha20-Poly1305 next") != std::string::npos);
  CHECK(c.next() == CipherSuite::ChaChaPoly);

  SECTION("a relay that lists only ChaCha20-Poly1305 keeps the fallback") {
    c.established(SuiteSet{CipherSuite::ChaChaPoly});
    CHECK(c.next() == CipherSuite::ChaChaPoly);
  }
  SECTION("a relay that lists AES-256-GCM ends it") {
    c.established(SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm});
    CHECK(c.next() == CipherSuite::AesGcm);
  }
  SECTION("a failed ChaCha20-Poly1305 handshake too means another cause: AES-256-GCM again") {
    CHECK_FALSE(c.handshake_unanswered(CipherSuite::ChaChaPoly));
    CHECK(c.next() == CipherSuite::AesGcm);
    SECTION("the fallback is said once per outage") {
      CHECK_FALSE(c.handshake_unanswered(CipherSuite::AesGcm));
      CHECK(c.next() == CipherSuite::ChaChaPoly);
      c.established(SuiteSet{CipherSuite::ChaChaPoly});  // the outage ends
      CHECK(c.handshake_unanswered(CipherSuite::ChaChaPoly) == std::nullopt);
      CHECK(c.handshake_unanswered(CipherSuite::AesGcm));  // said again in the next outage
    }
  }
}

TEST_CASE("a configured suite never changes; an unanswered configured AES-256-GCM is said once",
          "[cipher_choice]") {
  CipherChoice aes(CipherSuite::AesGcm, true);
  auto said = aes.handshake_unanswered(CipherSuite::AesGcm);
  REQUIRE(said);
  CHECK(said->find("agent.toml requires") != std::string::npos);
  CHECK_FALSE(aes.handshake_unanswered(CipherSuite::AesGcm));
  CHECK(aes.next() == CipherSuite::AesGcm);
  CipherChoice chacha(CipherSuite::ChaChaPoly, true);
  CHECK_FALSE(chacha.handshake_unanswered(CipherSuite::ChaChaPoly));
  CHECK(chacha.next() == CipherSuite::ChaChaPoly);
  CHECK(chacha.following(SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm}, CipherSuite::AesGcm) ==
        CipherSuite::ChaChaPoly);
}

TEST_CASE("the pool's other links follow what the primary's relay listed", "[cipher_choice]") {
  CipherChoice c(std::nullopt, true);
  // Nothing heard yet (an empty set): the primary's next offer.
  CHECK(c.following(SuiteSet{}, CipherSuite::ChaChaPoly) == CipherSuite::ChaChaPoly);
  CHECK(c.following(SuiteSet{}, CipherSuite::AesGcm) == CipherSuite::AesGcm);
  CHECK(c.following(SuiteSet{CipherSuite::ChaChaPoly}, CipherSuite::AesGcm) == CipherSuite::ChaChaPoly);
  CHECK(c.following(SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm}, CipherSuite::ChaChaPoly) ==
        CipherSuite::AesGcm);
  CipherChoice slow_cpu(std::nullopt, false);
  CHECK(slow_cpu.following(SuiteSet{CipherSuite::ChaChaPoly, CipherSuite::AesGcm}, CipherSuite::ChaChaPoly) ==
        CipherSuite::ChaChaPoly);
}
