// One link, sans-I/O: the Noise IK handshake, then transport records of link frames, with keepalive,
// key updates, authenticated close and the stream multiplexer on top. The session decides what
// happens; three parts keep the state it decides on:
//
//   TCP bytes --RecordReader--> records --open_record--> frames --> Mux / control    (record_codec)
//   Mux and control frames --> records --seal_record--> TCP bytes                    (record_codec)
//   the keys both use: current, next, the KEY_UPDATE owed (docs/protocol.md "Keys")  (key_schedule)
//   tick(now) --> what is due: handshake timeout, PING, dead peer, REKEY, in-link     (link_timers)
//                 handshake, forced close
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <optional>

#include "common/crypto/handshake_ik.hpp"
#include "common/crypto/tai64n.hpp"
#include "common/link/control_queue.hpp"
#include "common/link/handshake_payload.hpp"
#include "common/link/key_schedule.hpp"
#include "common/link/link_timers.hpp"
#include "common/link/mux.hpp"
#include "common/link/record_codec.hpp"

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
  const crypto::PublicKey& peer() const noexcept { return peer_; }
  const SessionId& session_id() const noexcept { return session_id_; }
  std::optional<Millis> rtt() const noexcept { return rtt_; }
  const LinkCounters& counters() const noexcept { return counters_; }
  const crypto::Hash& handshake_hash() const noexcept { return keys_.handshake_hash(); }
  Millis handshake_timeout() const noexcept { return cfg_.handshake_timeout; }
  // The suite of the keys in use (the last handshake's); meaningful while established.
  crypto::CipherSuite suite() const noexcept { return keys_.send().suite(); }
  // Initiator: the suite later in-link handshakes offer (the relay accepts any suite it takes).
  void set_suite(crypto::CipherSuite suite) noexcept { cfg_.suite = suite; }
  // Initiator: the suites the relay accepts, from message 2 (ChaCha20-Poly1305 alone until then).
  crypto::SuiteSet peer_suites() const noexcept { return peer_suites_; }
  // start() ran: as initiator, message 1 went out on a connected socket.
  bool handshake_begun() const noexcept { return handshake_begun_; }

 private:
  Bytes handshake_payload_1() const;
  Bytes handshake_payload_2() const;
  void process_record(MutByteSpan record, Instant now);
  void on_message1(MutByteSpan record, Instant now);
  void on_message2(MutByteSpan record, Instant now);
  void on_transport(MutByteSpan record, Instant now);
  Result<void> on_control(const frame::Frame& f, Instant now);
  Result<void> on_rehandshake(ByteSpan message, Instant now);
  // The two roles' halves of an in-link handshake; each returns the keys it agreed on.
  Result<crypto::TransportKeys> answer_rehandshake(ByteSpan message1, Instant now);
  Result<crypto::TransportKeys> finish_rehandshake(ByteSpan message2);
  // `in_link`: message 1 of an in-link handshake, which only the authenticated peer can send; its
  // timestamp must be newer than this link's last, not than the agent's latest on any link (the
  // links of an agent's pool rekey at about the same time, and a message 1 queued behind a bulk
  // transfer would lose that race).
  Result<void> check_payload_1(const crypto::PublicKey& who, ByteSpan payload, bool in_link);
  Result<Message2Payload> check_payload_2(ByteSpan payload, bool in_link) const;
  void become_established(crypto::TransportKeys keys, Instant now);
  void start_rehandshake();
  // An in-link handshake runs until both sides use its keys: the initiator awaits message 2, or a
  // KEY_UPDATE kind 1 has yet to be sent or received.
  bool rehandshake_pending() const noexcept { return hs_.has_value() || keys_.next_keys_pending(); }
  void queue_key_update(frame::KeyUpdateKind kind);
  // Runs the close that close_when_streams_end() deferred once nothing is left; true if it did.
  bool close_if_drained();
  void produce_records(Bytes& out, std::size_t max_bytes);
  enum class Sealed { More, Last, Failed };
  Sealed produce_record(Bytes& out);
  // Returns the kind of the KEY_UPDATE it put into the record, if it did.
  std::optional<frame::KeyUpdateKind> fill_record(Bytes& out, std::size_t record);
  void fail_link(const Error& why, bool tell_peer);
  void end(const Error& why);
  void wake();

  LinkConfig cfg_;
  LinkEvents& events_;
  Mux mux_;
  State state_ = State::Idle;
  std::optional<crypto::HandshakeIK> hs_;  // the initial or an in-link handshake in progress
  KeySchedule keys_;
  LinkTimers timers_;
  RecordReader records_;
  Bytes hs_out_;          // framed handshake message waiting for produce()
  ControlQueue control_;  // PING, PING answers, REHANDSHAKE, CLOSE frames
  bool close_queued_ = false;
  // close_when_streams_end() is waiting for the last stream.
  std::optional<frame::CloseInfo> close_when_drained_;
  crypto::PublicKey peer_{};
  SessionId session_id_{};
  crypto::SuiteSet peer_suites_{crypto::CipherSuite::ChaChaPoly};
  crypto::Tai64n peer_timestamp_{};  // of the last message 1 accepted on this link (responder)
  bool handshake_begun_ = false;
  Instant now_{0};  // the latest time passed in
  std::optional<Millis> rtt_;
  LinkCounters counters_;
  bool ended_ = false;
};

}  // namespace ferry::link
