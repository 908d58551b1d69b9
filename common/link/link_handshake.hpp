// A link's Noise IK handshakes, for either role (docs/protocol.md 2 and 8.1): the first, whose
// messages travel in records of their own, and the in-link ones the initiator starts every hour,
// whose messages travel in REHANDSHAKE frames. Sans-I/O: messages in, messages and keys out; the
// session frames the messages, installs the keys and decides when a handshake may run at all.
//
// It keeps what the link knows of its peer across handshakes: its static key, the session id, the
// suites it accepts (initiator) and the timestamp of its last message 1 (responder). An in-link
// handshake must leave the first one's peer and session id as they were.
#pragma once

#include <optional>
#include <string_view>

#include "common/crypto/handshake_ik.hpp"
#include "common/link/handshake_payload.hpp"

namespace ferry::link {

inline constexpr std::string_view kPrologue = "ferry link v1";

// The responder's gatekeeper. admit() runs after one DH (the initiator's static key is known) and
// before any further DH; fresh() then checks message 1's TAI64N timestamp against the newest one
// accepted for that key and records it when newer (replay). A link's first handshake must pass
// fresh(); an in-link one must be newer than its own link's last and only raises the record.
class Admission {
 public:
  virtual ~Admission() = default;
  virtual bool admit(const crypto::PublicKey& initiator) = 0;
  virtual bool fresh(const crypto::PublicKey& initiator, const crypto::Tai64n& timestamp) = 0;
};

// The responder's sessions that a message 1 may name to resume (docs/protocol.md 2.6). Asked after
// admit() and before fresh(), so a message 1 this thread hands to another is not spent here.
class SessionFinder {
 public:
  enum class Found { Here, Elsewhere, Nowhere };
  virtual ~SessionFinder() = default;
  // Whether `initiator` may resume `id` on this link: only the key that made a session resumes it.
  virtual Found find(const crypto::PublicKey& initiator, const SessionId& id) = 0;
};

struct HandshakeSettings {
  const crypto::SecretKey* static_key = nullptr;  // outlives the handshake
  crypto::PublicKey relay_key{};                  // initiator: the relay's pinned key
  Admission* admission = nullptr;                 // responder: required
  // Responder: the suites it accepts; message 2 names them.
  crypto::SuiteSet accept_suites{crypto::CipherSuite::ChaChaPoly};
  std::uint8_t wire_version = kWireVersion;  // tests set another to check the refusal
  // Initiator: offers version 2 (stream resumption). Responder: answers it when grace_s > 0.
  bool resumable = false;
  std::uint16_t grace_s = 0;          // responder: how long it holds a lost link's session
  SessionFinder* sessions = nullptr;  // responder: the sessions it holds (none: nothing resumes)
  bool takes_routes = false;          // initiator: message 1 says it takes ROUTES frames
  // Initiator: offers to send early data. Responder: agrees (docs/protocol.md 4.4).
  bool early_data = false;
};

class LinkHandshake {
 public:
  explicit LinkHandshake(const HandshakeSettings& settings) : s_(settings) {}

  // Initiator: message 1 of a new handshake, the first or an in-link one, offering `suite`; its
  // timestamp is the wall clock's now, which the responder requires to be newer than the last.
  // `resume`: the session this link carries on (the first handshake of a resuming link only).
  Result<Bytes> offer(crypto::CipherSuite suite, const crypto::Tai64n& timestamp,
                      const std::optional<SessionId>& resume = std::nullopt);
  // Initiator: message 2 of the handshake offer() began, and the keys both sides now hold. The first
  // message 2 gives the session id; an in-link one must repeat it.
  Result<crypto::TransportKeys> finish(ByteSpan message2);
  // Initiator: offer() ran and message 2 has yet to come.
  bool awaiting_reply() const noexcept { return hs_.has_value(); }

  // Responder: message 2 to send, then the keys, or why the link ends once message 2 is out: an
  // admitted agent with a fresh timestamp that speaks another wire version is told ours, so that
  // both sides name the mismatch. An error from answer() itself means nothing is sent.
  struct Reply {
    Bytes message2;
    Result<crypto::TransportKeys> keys;
  };
  // Responder: answers message 1, the link's first or, once one has been agreed, an in-link one.
  Result<Reply> answer(ByteSpan message1);

  // The link ended: a handshake half done is forgotten with its ephemeral key.
  void abandon() noexcept { hs_.reset(); }

  // What the handshakes agreed; the initiator's peer is unknown, and zero, until the first finished.
  const crypto::PublicKey& peer() const noexcept { return peer_; }
  const SessionId& session_id() const noexcept { return session_id_; }
  // Initiator: the suites the relay accepts, from message 2 (ChaCha20-Poly1305 alone until then).
  crypto::SuiteSet peer_suites() const noexcept { return peer_suites_; }
  // Both sides speak version 2: the link's streams survive its loss for grace_s().
  bool resumable() const noexcept { return resumable_; }
  // The first handshake carried on the session message 1 named (else it is a new one).
  bool resumed() const noexcept { return resumed_; }
  std::uint16_t grace_s() const noexcept { return grace_s_; }
  // Responder: the initiator's first message 1 said it takes ROUTES frames.
  bool peer_takes_routes() const noexcept { return peer_takes_routes_; }
  // Both sides agreed that the initiator may send DATA before OPEN_RESULT (the first handshake's
  // answer; in-link handshakes keep it).
  bool early_data() const noexcept { return early_data_; }
  // Responder, when answer() failed with Errc::Moved: message 1 as it came, and the session it names,
  // for the worker that holds that session to answer.
  struct Moved {
    Bytes message1;
    SessionId session;
  };
  const std::optional<Moved>& moved() const noexcept { return moved_; }

 private:
  crypto::HandshakeIK responder() const;
  Result<Reply> answer_first(crypto::HandshakeIK& hs, const crypto::PublicKey& who, ByteSpan message1);
  Result<Reply> answer_in_link(crypto::HandshakeIK& hs, const crypto::PublicKey& who);
  // Replay, then version. `in_link`: the timestamp must be newer than this link's last, not than the
  // agent's latest on any link (the links of an agent's pool rekey at about the same time, and a
  // message 1 queued behind a bulk transfer would lose that race).
  Result<void> check(const crypto::PublicKey& who, const Message1Payload& payload, bool in_link);
  Bytes message2_payload() const;

  HandshakeSettings s_;
  std::optional<crypto::HandshakeIK> hs_;  // the initiator's handshake in progress
  bool agreed_ = false;                    // the first handshake finished: later ones are in-link
  crypto::PublicKey peer_{};
  SessionId session_id_{};
  crypto::SuiteSet peer_suites_{crypto::CipherSuite::ChaChaPoly};
  crypto::Tai64n peer_timestamp_{};  // of the last message 1 accepted on this link (responder)
  bool resumable_ = false;
  bool resumed_ = false;
  std::uint16_t grace_s_ = 0;
  bool peer_takes_routes_ = false;
  bool early_data_ = false;
  std::optional<Moved> moved_;
};

}  // namespace ferry::link
