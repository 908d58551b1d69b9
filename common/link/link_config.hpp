// What the owner of a link sets (the agent's link client, the relay's link server, tests), and the
// settings each part of the session takes from it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "common/link/link_handshake.hpp"
#include "common/link/link_timers.hpp"
#include "common/link/mux.hpp"

namespace ferry::link {

struct LinkConfig {
  enum class Role { Initiator, Responder };
  Role role = Role::Initiator;
  const crypto::SecretKey* static_key = nullptr;  // outlives the session
  crypto::PublicKey peer_key{};                   // initiator: the relay's pinned key
  Admission* admission = nullptr;                 // responder: required
  // Initiator: the suite of its handshakes. Responder: the suites it accepts; message 2 names them,
  // so that an initiator that fell back to ChaCha20-Poly1305 learns it may offer AES-256-GCM again.
  crypto::CipherSuite suite = crypto::CipherSuite::ChaChaPoly;
  crypto::SuiteSet accept_suites{crypto::CipherSuite::ChaChaPoly};
  Millis handshake_timeout{5000};
  Millis keepalive_interval{15000};
  Millis dead_after{45000};  // nothing received for this long: the link is dead
  Millis rekey_interval{10 * 60 * 1000};
  std::uint64_t rekey_bytes = std::uint64_t{1} << 30;
  Millis rehandshake_interval{60 * 60 * 1000};
  // Responder: an in-link handshake sooner than this after the last key change closes the link.
  Millis min_rehandshake_gap{10 * 1000};
  MuxLimits mux{};
  std::uint8_t wire_version = kWireVersion;  // tests set another to check the refusal
  // Stream resumption (docs/protocol.md 4.13): the initiator offers it; the responder agrees when it
  // holds sessions (grace_s > 0), and `sessions` says which ones a message 1 may name.
  bool resumable = false;
  std::uint16_t grace_s = 0;
  SessionFinder* sessions = nullptr;
  // Initiator: it takes the relay's ROUTES frames (LinkEvents::on_routes); without this, one closes
  // the link. Responder: unused (LinkSession::peer_takes_routes() says what the initiator said).
  bool takes_routes = false;
  // Early data (docs/protocol.md 4.4): the initiator offers to send DATA before OPEN_RESULT, the
  // responder agrees to hold it while it dials. Both sides of ferry set it; tests turn it off.
  bool early_data = true;
  // Initiator: the session this link carries on (its message 1 names it).
  std::optional<SessionId> resume;
  // A resumable link lost with streams open (not closed by either side): its mux, suspended, goes
  // here just before LinkEvents::on_closed(), for the owner to hand to the link that resumes it
  // (LinkSession::adopt_mux). Without it, the streams are reset as on any link's end.
  std::function<void(std::unique_ptr<Mux>)> keep_streams;
  std::function<std::chrono::system_clock::time_point()> wall_clock = [] {
    return std::chrono::system_clock::now();
  };
  std::function<void()> wake;  // called when output becomes available; may be empty
  // Called once when the link ends, just before LinkEvents::on_closed(): the I/O layer's cue to
  // flush the last records and close (may be empty).
  std::function<void()> on_end;
};

HandshakeSettings handshake_settings(const LinkConfig& c);
TimerSettings timer_settings(const LinkConfig& c);

}  // namespace ferry::link
