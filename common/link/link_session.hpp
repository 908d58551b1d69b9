// One link, sans-I/O: the Noise IK handshake, then transport records of link frames, with keepalive,
// key updates, authenticated close and the stream multiplexer on top. The session decides what
// happens; four parts keep the state it decides on:
//
//   Noise IK messages <--> keys, peer, session id: the first handshake and in-link    (link_handshake)
//                          ones, with their payloads                                 (handshake_payload)
//   TCP bytes --RecordReader--> records --open_record--> frames --> Mux / control    (record_codec)
//   Mux and control frames --> records --seal_record--> TCP bytes                    (record_codec)
//   the keys both use: current, next, the KEY_UPDATE owed (docs/protocol.md "Keys")  (key_schedule)
//   tick(now) --> what is due: handshake timeout, PING, dead peer, REKEY, in-link     (link_timers)
//                 handshake, forced close
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "common/link/key_schedule.hpp"
#include "common/link/link_handshake.hpp"
#include "common/link/link_timers.hpp"
#include "common/link/mux.hpp"
#include "common/link/outbox.hpp"
#include "common/link/record_codec.hpp"

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
  std::function<std::chrono::system_clock::time_point()> wall_clock = [] {
    return std::chrono::system_clock::now();
  };
  std::function<void()> wake;  // called when output becomes available; may be empty
};

struct LinkCounters {
  std::uint64_t records_sent = 0;
  std::uint64_t records_received = 0;
  std::uint64_t rekeys_sent = 0;
  std::uint64_t rekeys_received = 0;
  std::uint64_t rehandshakes = 0;  // completed in-link handshakes
  std::uint64_t wire_bytes_sent = 0;
  std::uint64_t wire_bytes_received = 0;
};

class LinkSession {
 public:
  enum class State { Idle, Handshaking, Established, Closed };
  using SessionId = link::SessionId;

  LinkSession(LinkConfig config, LinkEvents& events);
  LinkSession(const LinkSession&) = delete;
  LinkSession& operator=(const LinkSession&) = delete;

  // Initiator: queues message 1. Responder: starts the handshake timer.
  void start(Instant now);
  // Bytes from the peer. `bytes` is decrypted in place, so it must be writable. Every span handed
  // to on_data() stays valid until this call returns.
  void receive(MutByteSpan bytes, Instant now);
  // An idle link gives back its record-gathering buffers (up to 2 x 64 KiB); never call it from
  // inside receive().
  void trim() noexcept;
  // The peer's byte stream ended.
  void eof();
  // Timers: keepalive, dead peer, handshake timeout, key lifetimes.
  void tick(Instant now);
  // Ends the link at once with `why` (no CLOSE record): a failed connect, a failed write.
  void abort(const Error& why);
  // Authenticated close: a CLOSE record is queued (produce() emits it) and on_closed() runs. What
  // the streams still had queued is dropped.
  void close(frame::CloseCode code, std::string_view reason);
  // A drain's close: once every stream has ended both ways (the mux forgot it) and every frame is
  // out, so a half-closed stream's answer and its FIN still reach the peer; then close(). At once
  // when nothing is left. A plain close() meanwhile (the drain's time limit) still cuts it short.
  void close_when_streams_end(frame::CloseCode code, std::string_view reason);

  bool has_output() const noexcept;
  // Appends encrypted records, about `max_bytes` (whole records; each at most 65537 bytes).
  void produce(Bytes& out, std::size_t max_bytes);

  Mux& mux() noexcept { return mux_; }
  const Mux& mux() const noexcept { return mux_; }
  State state() const noexcept { return state_; }
  bool established() const noexcept { return state_ == State::Established; }
  const crypto::PublicKey& peer() const noexcept { return handshake_.peer(); }
  const SessionId& session_id() const noexcept { return handshake_.session_id(); }
  std::optional<Millis> rtt() const noexcept { return timers_.rtt(); }
  const LinkCounters& counters() const noexcept { return counters_; }
  const crypto::Hash& handshake_hash() const noexcept { return keys_.handshake_hash(); }
  Millis handshake_timeout() const noexcept { return cfg_.handshake_timeout; }
  // The suite of the keys in use (the last handshake's); meaningful while established.
  crypto::CipherSuite suite() const noexcept { return keys_.send().suite(); }
  // Initiator: the suite later in-link handshakes offer (the relay accepts any suite it takes).
  void set_suite(crypto::CipherSuite suite) noexcept { cfg_.suite = suite; }
  // Initiator: the suites the relay accepts, from message 2 (ChaCha20-Poly1305 alone until then).
  crypto::SuiteSet peer_suites() const noexcept { return handshake_.peer_suites(); }
  // start() ran: as initiator, message 1 went out on a connected socket.
  bool handshake_begun() const noexcept { return handshake_begun_; }

 private:
  void process_record(MutByteSpan record, Instant now);
  // A handshake message, first or in-link: the initiator reads the reply to its offer, the responder
  // answers; the keys both sides now hold.
  Result<crypto::TransportKeys> take_handshake_message(ByteSpan message);
  void on_transport(MutByteSpan record, Instant now);
  // One frame of an authenticated record; `last_in_record`: nothing follows it in the record.
  Result<void> on_frame(const frame::Frame& f, bool last_in_record, Instant now);
  Result<void> on_rehandshake(ByteSpan message, Instant now);
  void become_established(crypto::TransportKeys keys, Instant now);
  void start_rehandshake();
  // An in-link handshake runs until both sides use its keys: the initiator awaits message 2, or a
  // KEY_UPDATE kind 1 has yet to be sent or received.
  bool rehandshake_pending() const noexcept {
    return handshake_.awaiting_reply() || keys_.next_keys_pending();
  }
  void queue_key_update(frame::KeyUpdateKind kind);
  // Runs the close that close_when_streams_end() deferred once nothing is left; true if it did.
  bool close_if_drained();
  void produce_records(Bytes& out, std::size_t max_bytes);
  void fail_link(const Error& why, bool tell_peer);
  void end(const Error& why);
  void wake();

  LinkConfig cfg_;
  LinkEvents& events_;
  Mux mux_;
  State state_ = State::Idle;
  LinkHandshake handshake_;  // the first or an in-link handshake, and what they agreed
  KeySchedule keys_;
  LinkTimers timers_;
  RecordReader records_;
  Outbox outbox_;
  // close_when_streams_end() is waiting for the last stream.
  std::optional<frame::CloseInfo> close_when_drained_;
  bool handshake_begun_ = false;
  Instant now_{0};  // the latest time passed in
  LinkCounters counters_;
  bool ended_ = false;
};

}  // namespace ferry::link
