#include "common/link/handshake_driver.hpp"

namespace ferry::link {

Result<void> HandshakeDriver::offer(bool in_link) {
  auto msg = handshake_.offer(cfg_.suite, crypto::tai64n_from(cfg_.wall_clock()), cfg_.resume);
  if (!msg) return msg.error();
  return outbox_.put_handshake(*msg, in_link);
}

Result<crypto::TransportKeys> HandshakeDriver::take(ByteSpan message, bool in_link) {
  if (cfg_.role == LinkConfig::Role::Initiator) return handshake_.finish(message);
  auto reply = handshake_.answer(message);
  if (!reply) return reply.error();
  if (auto sent = outbox_.put_handshake(reply->message2, in_link); !sent) return sent.error();
  return std::move(reply->keys);
}

Result<void> HandshakeDriver::on_rehandshake(ByteSpan message, Instant now) {
  if (cfg_.role == LinkConfig::Role::Responder) {
    // One at a time, refused before any cryptography: each answer costs several X25519 and a
    // directory lookup, and a second would replace keys the first has not yet put in use.
    if (pending()) return fail(Errc::Malformed, "an in-link handshake while the last one is unfinished");
    // An agent renews its keys hourly; a flood of in-link handshakes would cost an X25519 each and
    // get around the per-source rate limit on new links (docs/protocol.md 8.1).
    if (timers_.rehandshake_too_soon(now))
      return fail(Errc::Malformed, "in-link handshakes closer together than the relay allows");
  }
  auto keys = take(message, true);
  if (!keys) return keys.error();
  keys_.install_next_keys(std::move(*keys));
  timers_.rehandshake_done(now);
  return {};
}

}  // namespace ferry::link
