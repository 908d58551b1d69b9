// Which cipher suite a link's next handshake offers (agent.toml [relay] cipher; "auto" is
// docs/protocol.md 2.5), sans-I/O: the link client tells it how each handshake ended, and it answers
// with the suite to offer and with what, if anything, to tell the user.
//
// "auto" offers AES-256-GCM where the CPU has AES instructions. A relay that does not take it looks
// exactly like a handshake that went unanswered, so after one, ChaCha20-Poly1305 (which every relay
// takes) is offered until a relay's message 2 lists AES-256-GCM again. An attacker who drops
// handshakes only gets the contract's own cipher (docs/spec.md 15). The pool's other links follow the
// primary's relay instead of each finding out for itself.
#pragma once

#include <optional>
#include <string>

#include "common/crypto/cipher_suite.hpp"

namespace ferry::agent {

class CipherChoice {
 public:
  // `configured`: the suite agent.toml names, or nothing for "auto".
  CipherChoice(std::optional<crypto::CipherSuite> configured, bool aes_accelerated)
      : configured_(configured), aes_accelerated_(aes_accelerated) {}

  // The primary link's next offer.
  crypto::CipherSuite next() const noexcept;
  // Another link of the pool: what the primary's relay listed in its message 2 (every relay lists
  // ChaCha20-Poly1305), or, before the primary has heard from a relay, the primary's next offer.
  crypto::CipherSuite following(crypto::SuiteSet primary_listed,
                                crypto::CipherSuite primary_next) const noexcept;

  // Message 1 of a handshake offering `offered` reached a relay and the handshake did not complete.
  // Returns a line for the log, at most once per outage (or once at all, for a configured suite).
  std::optional<std::string> handshake_unanswered(crypto::CipherSuite offered);
  // A link came up; the relay's message 2 listed `relay_suites`. A relay that lists AES-256-GCM ends
  // a fallback: next() offers it again (and a link that came up on ChaCha20-Poly1305 may move to it at
  // its next in-link handshake).
  void established(crypto::SuiteSet relay_suites) noexcept;

 private:
  std::optional<crypto::CipherSuite> configured_;
  bool aes_accelerated_;
  bool aes_unanswered_ = false;   // "auto": an AES-256-GCM handshake went unanswered
  bool configured_hint_ = false;  // said once: the configured AES-256-GCM went unanswered
  bool fallback_said_ = false;    // the fallback was said during this outage
};

}  // namespace ferry::agent
