// A link's clocks (docs/protocol.md 8 and 9), in one place. The session reports the moments that
// restart them (an authenticated record heard, a PING sent, a key changed) and asks at each tick what
// is due; nothing here reads a clock or acts. Every deadline is the moment it restarted plus its
// interval, and it is due once `now` reaches it.
#pragma once

#include <cstdint>
#include <optional>

#include "common/link/clock.hpp"

namespace ferry::link {

struct TimerSettings {
  Millis handshake_timeout;
  Millis keepalive_interval;
  Millis dead_after;  // nothing authenticated heard for this long: the peer is gone
  Millis rekey_interval;
  Millis rehandshake_interval;
  Millis min_rehandshake_gap;
  // The initiator renews the keys with an in-link handshake every rehandshake_interval; the responder
  // closes a link whose keys have gone unrenewed for two.
  bool renews_keys = true;
};

class LinkTimers {
 public:
  // What a tick of an established link must do, in the order it does it.
  struct Due {
    bool peer_silent = false;   // end the link without a word: the peer is presumed gone
    bool ping = false;          // the keepalive PING, which also samples the RTT
    bool rekey = false;         // the send key's time is up
    bool rehandshake = false;   // initiator: a fresh in-link handshake, unless one still runs
    bool keys_expired = false;  // responder: the initiator never renewed its keys
    bool probe = false;         // records went out and nothing came back for kBusySilenceMs: probe
    bool probe_failed = false;  // a probe went unanswered for kProbeMs: the path is gone
  };
  // A probe is a PING that must be answered within this (docs/protocol.md 8.2 "Probes"). The agent
  // probes when its network changes or it wakes, and either side when a busy link falls silent.
  static constexpr Millis kProbeMs{2000};
  // A record sent and nothing authenticated heard in this long since: probed, so a path that died
  // under traffic is found in seconds, not after dead_after.
  static constexpr Millis kBusySilenceMs{5000};

  explicit LinkTimers(const TimerSettings& settings) : s_(settings) {}

  // The handshake starts; so does its clock.
  void started(Instant now) noexcept { started_ = last_heard_ = now; }
  // The first handshake finished: every other clock starts.
  void established(Instant now) noexcept { last_heard_ = last_ping_ = send_key_since_ = keys_since_ = now; }
  // An authenticated record arrived. Raw bytes do not count: a header, then a byte now and then, would
  // let anyone on the path keep a dead link open.
  void heard(Instant now) noexcept {
    last_heard_ = now;
    unanswered_since_.reset();
  }
  void pinged(Instant now) noexcept { last_ping_ = now; }
  // A record went out.
  void sent(Instant now) noexcept {
    if (!unanswered_since_) unanswered_since_ = now;
  }
  // A probe's PING went out now.
  void probing(Instant now) noexcept { probe_since_ = probe_deadline_from_ = now; }
  bool probing() const noexcept { return probe_since_.has_value(); }
  // Each tick, before due(). A tick this much later than the last means this process did not run
  // (stopped, or the system slept): a probe under way gets its whole time again from now, and so does
  // the count of a busy silence, so that an answer waiting in the socket is read before anyone is
  // given up on.
  static constexpr Millis kNotRunning{1000};
  void ticked(Instant now) noexcept;
  // A PING answer that left at `sent` answers the probe under way if it left with it or after; then
  // true, once.
  bool probe_answered(std::uint64_t sent) noexcept;
  // A PING answer came back with the time its PING left (PINGs carry their send time): the round
  // trip, which rtt() then keeps. An echo from the future or over an hour old is no PING of this side's
  // and gives nothing.
  std::optional<Millis> ping_answered(std::uint64_t sent, Instant now) noexcept;
  std::optional<Millis> rtt() const noexcept { return rtt_; }
  void send_key_changed(Instant now) noexcept { send_key_since_ = now; }
  // An in-link handshake agreed on new keys (both roles).
  void rehandshake_done(Instant now) noexcept { keys_since_ = now; }

  bool handshake_overdue(Instant now) const noexcept { return now - started_ >= s_.handshake_timeout; }
  Due due(Instant now) const noexcept;
  // Responder: an in-link handshake this soon after the last key change by handshake is refused, so
  // that a link cannot make the relay run an X25519 per round trip.
  bool rehandshake_too_soon(Instant now) const noexcept { return now - keys_since_ < s_.min_rehandshake_gap; }

 private:
  TimerSettings s_;
  Instant started_{0};
  Instant last_heard_{0};
  Instant last_ping_{0};
  Instant send_key_since_{0};
  Instant keys_since_{0};                    // the last full handshake, first or in-link
  std::optional<Instant> unanswered_since_;  // the first record sent since the peer was last heard
  std::optional<Instant> probe_since_;       // the probe's PING: answers to it or later ones count
  Instant probe_deadline_from_{0};           // its 2 s count from here
  std::optional<Instant> last_tick_;
  std::optional<Millis> rtt_;
};

}  // namespace ferry::link
