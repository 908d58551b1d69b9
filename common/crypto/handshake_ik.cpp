#include "common/crypto/handshake_ik.hpp"

#include <sodium.h>

#include <cstring>

namespace ferry::crypto {
namespace {

struct Wiped {
  std::uint8_t b[kKeyBytes];
  ~Wiped() { sodium_memzero(b, sizeof b); }
};

}  // namespace

Result<void> dh(const SecretKey& sk, const PublicKey& pk, std::uint8_t (&out)[kKeyBytes]) noexcept {
  if (crypto_scalarmult(out, sk.data(), pk.bytes.data()) != 0)
    return fail(Errc::BadKey, "a small-order public key");
  return {};
}

std::string_view noise_protocol_name(CipherSuite suite) noexcept {
  return suite == CipherSuite::AesGcm ? kNoiseProtocolNameAesGcm : kNoiseProtocolName;
}

SymmetricState HandshakeIK::begin_chain(CipherSuite suite, const PublicKey& responder_static) const {
  SymmetricState ss;
  ss.initialize(noise_protocol_name(suite), suite);
  ss.mix_hash(prologue_);
  ss.mix_hash(responder_static.bytes);
  return ss;
}

HandshakeIK HandshakeIK::initiator(const SecretKey& s, const PublicKey& rs, ByteSpan prologue,
                                   CipherSuite suite) {
  HandshakeIK hs(s, Role::Initiator);
  hs.prologue_.assign(prologue.begin(), prologue.end());
  hs.rs_ = rs;
  hs.ss_ = hs.begin_chain(suite, rs);
  return hs;
}

HandshakeIK HandshakeIK::responder(const SecretKey& s, ByteSpan prologue, SuiteSet accept) {
  HandshakeIK hs(s, Role::Responder);
  hs.prologue_.assign(prologue.begin(), prologue.end());
  hs.accept_ = accept;
  return hs;
}

Result<Bytes> HandshakeIK::write_message1(ByteSpan payload) {
  if (role_ != Role::Initiator || step_ != Step::Message1)
    return fail(Errc::Malformed, "handshake out of order");
  Bytes out(kMessage1Overhead + payload.size());
  if (!e_) e_.emplace(SecretKey::generate());
  const PublicKey& e_pub = e_->public_key();
  std::memcpy(out.data(), e_pub.bytes.data(), 32);
  ss_.mix_hash(e_pub.bytes);
  Wiped k;
  if (auto r = dh(*e_, rs_, k.b); !r) return r.error();
  ss_.mix_key(k.b);
  auto n = ss_.encrypt_and_hash(s_->public_key().bytes, out.data() + 32);
  if (!n) return n.error();
  if (auto r = dh(*s_, rs_, k.b); !r) return r.error();
  ss_.mix_key(k.b);
  auto m = ss_.encrypt_and_hash(payload, out.data() + 32 + *n);
  if (!m) return m.error();
  step_ = Step::Message2;
  return out;
}

Result<PublicKey> HandshakeIK::read_message1_identity(ByteSpan message) {
  if (role_ != Role::Responder || step_ != Step::Message1)
    return fail(Errc::Malformed, "handshake out of order");
  if (message.size() < kMessage1Overhead) return fail(Errc::Malformed, "handshake message 1 is too short");
  std::memcpy(re_.bytes.data(), message.data(), 32);
  Wiped k;
  if (auto r = dh(*s_, re_, k.b); !r) return r.error();
  std::uint8_t s_plain[32];
  bool found = false;
  for (const CipherSuite suite : kAllSuites) {
    if (!accept_.contains(suite)) continue;
    SymmetricState chain = begin_chain(suite, s_->public_key());
    chain.mix_hash(re_.bytes);
    chain.mix_key(k.b);
    if (chain.decrypt_and_hash(message.subspan(32, 48), s_plain)) {
      ss_ = std::move(chain);
      found = true;
      break;
    }
  }
  if (!found)
    return fail(Errc::DecryptFailed,
                "message 1 does not decrypt (a wrong relay key, or a cipher not in link_ciphers)");
  std::memcpy(rs_.bytes.data(), s_plain, 32);
  sodium_memzero(s_plain, sizeof s_plain);
  pending_.assign(message.begin() + 80, message.end());
  step_ = Step::Message1Payload;
  return rs_;
}

Result<Bytes> HandshakeIK::read_message1_payload() {
  if (step_ != Step::Message1Payload) return fail(Errc::Malformed, "handshake out of order");
  Wiped k;
  if (auto r = dh(*s_, rs_, k.b); !r) return r.error();
  ss_.mix_key(k.b);
  Bytes payload(pending_.size() - kTagBytes + 1);  // +1: never hand libsodium a null pointer
  auto n = ss_.decrypt_and_hash(pending_, payload.data());
  if (!n) return n.error();
  payload.resize(*n);
  pending_.clear();
  step_ = Step::Message2;
  return payload;
}

Result<Bytes> HandshakeIK::write_message2(ByteSpan payload) {
  if (role_ != Role::Responder || step_ != Step::Message2)
    return fail(Errc::Malformed, "handshake out of order");
  Bytes out(kMessage2Overhead + payload.size());
  if (!e_) e_.emplace(SecretKey::generate());  // only now: after admission
  const PublicKey& e_pub = e_->public_key();
  std::memcpy(out.data(), e_pub.bytes.data(), 32);
  ss_.mix_hash(e_pub.bytes);
  Wiped k;
  if (auto r = dh(*e_, re_, k.b); !r) return r.error();  // ee
  ss_.mix_key(k.b);
  if (auto r = dh(*e_, rs_, k.b); !r) return r.error();  // se: the initiator's s, our e
  ss_.mix_key(k.b);
  auto n = ss_.encrypt_and_hash(payload, out.data() + 32);
  if (!n) return n.error();
  step_ = Step::Done;
  return out;
}

Result<Bytes> HandshakeIK::read_message2(ByteSpan message) {
  if (role_ != Role::Initiator || step_ != Step::Message2)
    return fail(Errc::Malformed, "handshake out of order");
  if (message.size() < kMessage2Overhead) return fail(Errc::Malformed, "handshake message 2 is too short");
  std::memcpy(re_.bytes.data(), message.data(), 32);
  ss_.mix_hash(re_.bytes);
  Wiped k;
  if (auto r = dh(*e_, re_, k.b); !r) return r.error();  // ee
  ss_.mix_key(k.b);
  if (auto r = dh(*s_, re_, k.b); !r) return r.error();  // se
  ss_.mix_key(k.b);
  Bytes payload(message.size() - kMessage2Overhead + 1);
  auto n = ss_.decrypt_and_hash(message.subspan(32), payload.data());
  if (!n) return n.error();
  payload.resize(*n);
  step_ = Step::Done;
  return payload;
}

TransportKeys HandshakeIK::split() noexcept {
  auto [c1, c2] = ss_.split();
  TransportKeys keys;
  keys.handshake_hash = ss_.handshake_hash();
  if (role_ == Role::Initiator) {
    keys.send = std::move(c1);
    keys.recv = std::move(c2);
  } else {
    keys.send = std::move(c2);
    keys.recv = std::move(c1);
  }
  return keys;
}

}  // namespace ferry::crypto
