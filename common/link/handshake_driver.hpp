// The handshakes of one link, between LinkHandshake (what the messages say) and the wire: the
// initiator's offers, first and in-link (hourly); the responder's answers, with message 2 queued; the
// responder's pacing of in-link handshakes; and the keys they agree, installed in the key schedule
// (the first handshake's by LinkSession when it becomes established, an in-link one's as the next
// keys, put in use by KEY_UPDATE kind 1). docs/protocol.md 2 and 8.1.
#pragma once

#include "common/link/key_schedule.hpp"
#include "common/link/link_config.hpp"
#include "common/link/link_handshake.hpp"
#include "common/link/link_timers.hpp"
#include "common/link/outbox.hpp"

namespace ferry::link {

class HandshakeDriver {
 public:
  // All four belong to the LinkSession, which outlives this.
  HandshakeDriver(const LinkConfig& cfg, Outbox& outbox, KeySchedule& keys, LinkTimers& timers)
      : cfg_(cfg), handshake_(handshake_settings(cfg)), outbox_(outbox), keys_(keys), timers_(timers) {}

  const LinkHandshake& handshake() const noexcept { return handshake_; }
  // The link ended: a handshake half done is forgotten with its ephemeral key.
  void abandon() noexcept { handshake_.abandon(); }

  // Initiator: queues message 1, of the first handshake or (`in_link`) of a later one.
  Result<void> offer(bool in_link);
  // The first handshake's message from the peer: the initiator reads message 2, the responder answers
  // message 1 (its message 2 is queued, and goes out even when the link then ends). The keys to use.
  Result<crypto::TransportKeys> take(ByteSpan message) { return take(message, false); }
  // A REHANDSHAKE frame: the responder refuses one too soon or while the last is unfinished, before
  // any cryptography; then the new keys wait as the next ones.
  Result<void> on_rehandshake(ByteSpan message, Instant now);
  // An in-link handshake runs until both sides use its keys: the initiator awaits message 2, or a
  // KEY_UPDATE kind 1 has yet to be sent or received.
  bool pending() const noexcept { return handshake_.awaiting_reply() || keys_.next_keys_pending(); }

 private:
  Result<crypto::TransportKeys> take(ByteSpan message, bool in_link);

  const LinkConfig& cfg_;
  LinkHandshake handshake_;  // the first or an in-link handshake, and what they agreed
  Outbox& outbox_;
  KeySchedule& keys_;
  LinkTimers& timers_;
};

}  // namespace ferry::link
