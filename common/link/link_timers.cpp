#include "common/link/link_timers.hpp"

namespace ferry::link {

LinkTimers::Due LinkTimers::due(Instant now) const noexcept {
  Due d;
  d.peer_silent = now - last_heard_ >= s_.dead_after;
  d.ping = now - last_ping_ >= s_.keepalive_interval;
  d.rekey = now - send_key_since_ >= s_.rekey_interval;
  const Millis keys_age = now - keys_since_;
  if (s_.renews_keys) {
    d.rehandshake = keys_age >= s_.rehandshake_interval;
  } else {
    // Forward secrecy is not optional: one missed renewal is tolerated, a second is not.
    d.keys_expired = keys_age >= 2 * s_.rehandshake_interval;
  }
  if (probe_since_)
    d.probe_failed = now - probe_deadline_from_ >= kProbeMs;
  else
    d.probe = unanswered_since_ && now - *unanswered_since_ >= kBusySilenceMs;
  return d;
}

void LinkTimers::ticked(Instant now) noexcept {
  if (last_tick_ && now - *last_tick_ >= kNotRunning) {
    if (probe_since_) probe_deadline_from_ = now;
    if (unanswered_since_) unanswered_since_ = now;
  }
  last_tick_ = now;
}

bool LinkTimers::probe_answered(std::uint64_t sent) noexcept {
  if (!probe_since_ || static_cast<std::int64_t>(sent) < probe_since_->count()) return false;
  probe_since_.reset();
  return true;
}

std::optional<Millis> LinkTimers::ping_answered(std::uint64_t sent, Instant now) noexcept {
  const auto at = Instant(static_cast<std::int64_t>(sent));
  if (at > now || now - at >= Millis(3'600'000)) return std::nullopt;
  rtt_ = now - at;
  return rtt_;
}

}  // namespace ferry::link
