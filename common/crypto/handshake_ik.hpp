// Noise_IK_25519_ChaChaPoly_SHA256 or Noise_IK_25519_AESGCM_SHA256 (Noise spec §7.5):
//     <- s
//     ...
//     -> e, es, s, ss
//     <- e, ee, se
// Message 1 is 32 (e) + 48 (encrypted s) + payload + 16 bytes; message 2 is 32 (e) + payload + 16.
//
// The responder reads message 1 in two steps so that it can refuse an unknown initiator after one
// DH (es, needed to decrypt s) and before the second (ss): read_message1_identity() returns the
// initiator's static key, and only when the caller admits it does read_message1_payload() run.
// Nothing else before admission costs an X25519: the static public key comes with the SecretKey,
// and the ephemeral key is drawn only when message 2 is written.
//
// The initiator chooses the cipher suite. The responder learns it by trial: the first DH (es) does not
// depend on the protocol name, so it is computed once, and the encrypted static key is tried under
// each accepted suite's chain (one HKDF and one 48-byte AEAD each). A suite outside the accepted set
// fails exactly like a wrong key.
#pragma once

#include <optional>

#include "common/crypto/keys.hpp"
#include "common/crypto/symmetric_state.hpp"

namespace ferry::crypto {

inline constexpr std::string_view kNoiseProtocolName = "Noise_IK_25519_ChaChaPoly_SHA256";
inline constexpr std::string_view kNoiseProtocolNameAesGcm = "Noise_IK_25519_AESGCM_SHA256";
std::string_view noise_protocol_name(CipherSuite suite) noexcept;
inline constexpr std::size_t kMessage1Overhead = 32 + 32 + kTagBytes + kTagBytes;
inline constexpr std::size_t kMessage2Overhead = 32 + kTagBytes;

// X25519 that refuses small-order points (libsodium returns -1 when the shared secret is all zeros).
Result<void> dh(const SecretKey& sk, const PublicKey& pk, std::uint8_t (&out)[kKeyBytes]) noexcept;

struct TransportKeys {
  CipherState send;
  CipherState recv;
  Hash handshake_hash{};
};

class HandshakeIK {
 public:
  // `s` must outlive the handshake. `prologue` is copied.
  static HandshakeIK initiator(const SecretKey& s, const PublicKey& rs, ByteSpan prologue,
                               CipherSuite suite = CipherSuite::ChaChaPoly);
  static HandshakeIK responder(const SecretKey& s, ByteSpan prologue,
                               SuiteSet accept = SuiteSet{CipherSuite::ChaChaPoly});

  // Tests only: fix the ephemeral key instead of drawing it from the RNG when the message is written.
  void set_ephemeral(SecretKey e) { e_.emplace(std::move(e)); }

  Result<Bytes> write_message1(ByteSpan payload);
  Result<PublicKey> read_message1_identity(ByteSpan message);
  Result<Bytes> read_message1_payload();  // after read_message1_identity()
  Result<Bytes> write_message2(ByteSpan payload);
  Result<Bytes> read_message2(ByteSpan message);
  // After the last message: the initiator sends with c1, the responder with c2.
  TransportKeys split() noexcept;
  // The initiator's choice; for the responder, known once read_message1_identity() succeeded.
  CipherSuite suite() const noexcept { return ss_.suite(); }

 private:
  enum class Role { Initiator, Responder };
  enum class Step { Message1, Message1Payload, Message2, Done };
  HandshakeIK(const SecretKey& s, Role role) : s_(&s), role_(role) {}
  // initialize, prologue, the pre-message: the start of every chain for `suite`.
  SymmetricState begin_chain(CipherSuite suite, const PublicKey& responder_static) const;

  const SecretKey* s_;
  Role role_;
  Step step_ = Step::Message1;
  SymmetricState ss_;
  Bytes prologue_;
  SuiteSet accept_;             // the responder's
  std::optional<SecretKey> e_;  // drawn when this side writes its message
  PublicKey re_{};
  PublicKey rs_{};
  Bytes pending_;  // message 1's encrypted payload, kept between the two read steps
};

}  // namespace ferry::crypto
