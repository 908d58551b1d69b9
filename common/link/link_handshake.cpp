#include "common/link/link_handshake.hpp"

#include <sodium.h>

#include "common/link/record_codec.hpp"

namespace ferry::link {

namespace {

ByteSpan prologue() {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(kPrologue.data()), kPrologue.size());
}

}  // namespace

Result<Bytes> LinkHandshake::offer(crypto::CipherSuite suite, const crypto::Tai64n& timestamp,
                                   const std::optional<SessionId>& resume) {
  hs_.emplace(crypto::HandshakeIK::initiator(*s_.static_key, s_.relay_key, prologue(), suite));
  Message1Payload p;
  p.timestamp = timestamp;
  p.wire_version = s_.wire_version;
  if (s_.resumable) p.flags = Message1Payload::kFlagSpeaksV2;
  if (s_.takes_routes) p.flags |= Message1Payload::kFlagTakesRoutes;
  if (s_.early_data) p.flags |= Message1Payload::kFlagEarlyData;
  if (!agreed_) p.resume = resume;
  return hs_->write_message1(p.encode());
}

// The same checks in the first handshake and in an in-link one (docs/protocol.md 2.4 and 8.1), except
// that an in-link one must leave the session id unchanged.
Result<crypto::TransportKeys> LinkHandshake::finish(ByteSpan message2) {
  if (!hs_) return fail(Errc::Malformed, "an in-link handshake reply nobody asked for");
  auto plain = hs_->read_message2(message2);
  if (!plain) return plain.error();
  auto payload = Message2Payload::decode(*plain);
  if (!payload) return payload.error();
  const bool v2 = s_.resumable && payload->wire_version == kResumableWireVersion;
  if (payload->wire_version != s_.wire_version && !v2)
    return fail(Errc::BadVersion, "the relay speaks another wire version");
  if (agreed_ && (payload->session_id != session_id_ || v2 != resumable_))
    return fail(Errc::Malformed, "an in-link handshake changed the session id or its resumption");
  if (!agreed_) {
    resumable_ = v2;
    resumed_ = v2 && payload->resumed;
    grace_s_ = v2 ? payload->grace_s : 0;
    early_data_ = s_.early_data && payload->early_data;
  }
  session_id_ = payload->session_id;
  peer_suites_ = payload->accept_suites;
  peer_ = s_.relay_key;
  auto keys = hs_->split();
  hs_.reset();
  agreed_ = true;
  return keys;
}

crypto::HandshakeIK LinkHandshake::responder() const {
  return crypto::HandshakeIK::responder(*s_.static_key, prologue(), s_.accept_suites);
}

Result<LinkHandshake::Reply> LinkHandshake::answer(ByteSpan message1) {
  if (agreed_ && message1.size() > kMaxHandshakeRecord)
    return fail(Errc::TooLarge, "an oversized in-link handshake");
  crypto::HandshakeIK hs = responder();
  auto who = hs.read_message1_identity(message1);
  if (!who) return who.error();
  return agreed_ ? answer_in_link(hs, *who) : answer_first(hs, *who, message1);
}

Result<LinkHandshake::Reply> LinkHandshake::answer_first(crypto::HandshakeIK& hs,
                                                         const crypto::PublicKey& who, ByteSpan message1) {
  // The allow-list. An unknown key still costs the second DH, as an enrolled one does: answering a
  // stranger one X25519 sooner would tell anyone who times it which keys are enrolled.
  const bool admitted = s_.admission->admit(who);
  auto plain = hs.read_message1_payload();
  if (!admitted) return fail(Errc::Refused, "the initiator's key is not admitted");
  if (!plain) return plain.error();
  auto payload = Message1Payload::decode(*plain);
  if (!payload) return payload.error();
  // A session another thread holds: that thread answers this message 1 (so its timestamp is not
  // spent here). Errc::Moved tells the owner to hand the connection over.
  const auto found = payload->resume && s_.sessions ? s_.sessions->find(who, *payload->resume)
                                                    : SessionFinder::Found::Nowhere;
  if (found == SessionFinder::Found::Elsewhere) {
    peer_ = who;
    moved_ = Moved{Bytes(message1.begin(), message1.end()), *payload->resume};
    return fail(Errc::Moved, "the session to resume is held by another thread");
  }
  auto ok = check(who, *payload, false);
  if (!ok && ok.error().code != Errc::BadVersion) return ok.error();
  peer_ = who;
  resumable_ = payload->speaks_v2() && s_.grace_s > 0;
  peer_takes_routes_ = payload->takes_routes();
  early_data_ = s_.early_data && payload->sends_early_data();
  resumed_ = resumable_ && found == SessionFinder::Found::Here;
  grace_s_ = resumable_ ? s_.grace_s : 0;
  if (resumed_)
    session_id_ = *payload->resume;
  else
    randombytes_buf(session_id_.data(), session_id_.size());
  auto message2 = hs.write_message2(message2_payload());
  if (!message2) return message2.error();
  // An admitted agent with another wire version gets message 2, which names our version, so that
  // both sides can log the mismatch; then the link ends. A stranger never gets this far.
  if (!ok) return Reply{std::move(*message2), ok.error()};
  agreed_ = true;
  return Reply{std::move(*message2), hs.split()};
}

// Message 1 read as in the first handshake, but from this link's peer and against this link's last
// timestamp. Only the authenticated peer can send it, so the key is checked at once.
Result<LinkHandshake::Reply> LinkHandshake::answer_in_link(crypto::HandshakeIK& hs,
                                                           const crypto::PublicKey& who) {
  if (!(who == peer_)) return fail(Errc::Malformed, "an in-link handshake with another key");
  if (!s_.admission->admit(who)) return fail(Errc::Refused, "the initiator's key is no longer admitted");
  auto plain = hs.read_message1_payload();
  if (!plain) return plain.error();
  auto payload = Message1Payload::decode(*plain);
  if (!payload) return payload.error();
  if (auto ok = check(who, *payload, true); !ok) return ok.error();
  auto message2 = hs.write_message2(message2_payload());
  if (!message2) return message2.error();
  return Reply{std::move(*message2), hs.split()};
}

Result<void> LinkHandshake::check(const crypto::PublicKey& who, const Message1Payload& payload,
                                  bool in_link) {
  // The replay check comes first, so a recorded message 1 of any version is answered at most once.
  const crypto::Tai64n& ts = payload.timestamp;
  if (in_link ? !crypto::newer(ts, peer_timestamp_) : !s_.admission->fresh(who, ts))
    return fail(Errc::Replay, "handshake timestamp is not newer than the last");
  // An accepted in-link timestamp also raises the agent's record when it is newer (fresh() keeps the
  // newest; its answer is not the test here), so an outer message 1 captured before it is refused.
  if (in_link) (void)s_.admission->fresh(who, ts);
  peer_timestamp_ = ts;
  if (payload.wire_version != s_.wire_version)
    return fail(Errc::BadVersion, "the agent speaks another wire version");
  return {};
}

Bytes LinkHandshake::message2_payload() const {
  Message2Payload p;
  p.wire_version = resumable_ ? kResumableWireVersion : s_.wire_version;
  p.session_id = session_id_;
  p.accept_suites = s_.accept_suites;
  p.resumed = resumed_;
  p.grace_s = grace_s_;
  p.early_data = early_data_;
  return p.encode();
}

}  // namespace ferry::link
