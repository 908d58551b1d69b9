#include "agent/cipher_choice.hpp"

#include <utility>

namespace ferry::agent {

using crypto::CipherSuite;

CipherSuite CipherChoice::next() const noexcept {
  if (configured_) return *configured_;
  return aes_accelerated_ && !aes_unanswered_ ? CipherSuite::AesGcm : CipherSuite::ChaChaPoly;
}

CipherSuite CipherChoice::following(crypto::SuiteSet primary_listed,
                                    CipherSuite primary_next) const noexcept {
  if (configured_) return *configured_;
  if (!primary_listed.contains(CipherSuite::ChaChaPoly)) return primary_next;  // nothing heard yet
  return aes_accelerated_ && primary_listed.contains(CipherSuite::AesGcm) ? CipherSuite::AesGcm
                                                                          : CipherSuite::ChaChaPoly;
}

std::optional<std::string> CipherChoice::handshake_unanswered(CipherSuite offered) {
  if (configured_ == CipherSuite::AesGcm) {
    if (std::exchange(configured_hint_, true)) return std::nullopt;
    return "the relay did not complete an AES-256-GCM handshake, which agent.toml requires "
           "(cipher = \"aes-256-gcm\"); if it persists, check the relay's link_ciphers";
  }
  if (configured_) return std::nullopt;
  if (offered == CipherSuite::AesGcm) {
    aes_unanswered_ = true;
    // Once per outage: a relay that refuses every key makes the two offers alternate.
    if (std::exchange(fallback_said_, true)) return std::nullopt;
    return "the relay did not complete an AES-256-GCM handshake; offering ChaCha20-Poly1305 next";
  }
  // A ChaCha20-Poly1305 handshake failed too: the cause was something else (a key not yet listed, a
  // relay restarting), so AES-256-GCM is offered again.
  aes_unanswered_ = false;
  return std::nullopt;
}

void CipherChoice::established(crypto::SuiteSet relay_suites) noexcept {
  fallback_said_ = false;
  if (relay_suites.contains(CipherSuite::AesGcm)) aes_unanswered_ = false;
}

}  // namespace ferry::agent
