#include "common/link/link_config.hpp"

namespace ferry::link {

HandshakeSettings handshake_settings(const LinkConfig& c) {
  return {c.static_key, c.peer_key, c.admission, c.accept_suites, c.wire_version,
          c.resumable,  c.grace_s,  c.sessions,  c.takes_routes,  c.early_data};
}

TimerSettings timer_settings(const LinkConfig& c) {
  return {c.handshake_timeout,
          c.keepalive_interval,
          c.dead_after,
          c.rekey_interval,
          c.rehandshake_interval,
          c.min_rehandshake_gap,
          c.role == LinkConfig::Role::Initiator};
}

}  // namespace ferry::link
