// One link, sans-I/O: the Noise IK handshake, then transport records of link frames, with keepalive,
// key updates, authenticated close and the stream multiplexer on top. The session decides what
// happens and when; its parts keep the state it decides on and the protocol's rules:
//
//   Noise IK messages <--> keys, the peer, the session id; first and in-link  (handshake_driver:
//                          handshakes, their pacing and their keys' hand-over  link_handshake,
//                                                                              handshake_payload)
//   TCP bytes --RecordReader--> records --open_record--> frames --> Mux / control    (record_codec)
//   handshake message, control frames, KEY_UPDATE, Mux frames --> records, in order  (outbox)
//   the keys both use: current, next, the KEY_UPDATE owed; sealing (protocol.md 8)   (key_schedule)
//   tick(now) --> what is due: handshake timeout, PING, dead peer, REKEY, in-link     (link_timers)
//                 handshake, forced close
//   CLOSE codes <--> errors                                                          (close_code)
#pragma once

#include <optional>

#include "common/link/handshake_driver.hpp"
#include "common/link/key_schedule.hpp"
#include "common/link/link_config.hpp"
#include "common/link/mux_slot.hpp"
#include "common/link/outbox.hpp"
#include "common/link/record_codec.hpp"

namespace ferry::link {

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
  // Timers: keepalive, dead peer, handshake timeout, key lifetimes, probes.
  void tick(Instant now);
  // Checks the link now (the agent's network changed, or it woke): a PING that must be answered
  // within LinkTimers::kProbeMs, or the link ends with Errc::Timeout; an answer in time is
  // LinkEvents::on_alive(). One probe at a time.
  void probe(Instant now);
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

  Mux& mux() noexcept { return *mux_; }
  const Mux& mux() const noexcept { return *mux_; }
  // Carries on the streams of a lost link (LinkConfig::keep_streams) on this one, in place of its
  // own mux, which must not have streams yet: called when the handshake resumed that link's
  // session, from LinkEvents::on_established() or later. The RESUME exchange starts at once.
  void adopt_mux(std::unique_ptr<Mux> mux);
  // Takes this link's mux, leaving an empty one: a link replaced by a resumed one gives it to that
  // one, since its streams' refs name it.
  std::unique_ptr<Mux> take_mux() { return mux_.take(); }
  // The resumed link's owner is the session's (the relay's link handler that held it): its events,
  // and where its streams go if this link is lost too (LinkConfig::keep_streams).
  void set_owner(LinkEvents& events, MuxSlot::KeepFn keep_streams);
  // The handshake agreed on stream resumption (wire version 2), and how long the relay holds a
  // lost link's streams; and whether this link's handshake resumed the session message 1 named.
  bool resumable() const noexcept { return handshakes_.handshake().resumable(); }
  bool resumed() const noexcept { return handshakes_.handshake().resumed(); }
  std::uint16_t grace_s() const noexcept { return handshakes_.handshake().grace_s(); }
  State state() const noexcept { return state_; }
  bool established() const noexcept { return state_ == State::Established; }
  const crypto::PublicKey& peer() const noexcept { return handshakes_.handshake().peer(); }
  const SessionId& session_id() const noexcept { return handshakes_.handshake().session_id(); }
  std::optional<Millis> rtt() const noexcept { return timers_.rtt(); }
  const LinkCounters& counters() const noexcept { return counters_; }
  const crypto::Hash& handshake_hash() const noexcept { return keys_.handshake_hash(); }
  Millis handshake_timeout() const noexcept { return cfg_.handshake_timeout; }
  // The suite of the keys in use (the last handshake's); meaningful while established.
  crypto::CipherSuite suite() const noexcept { return keys_.send().suite(); }
  // Initiator: the suite later in-link handshakes offer (the relay accepts any suite it takes).
  void set_suite(crypto::CipherSuite suite) noexcept { cfg_.suite = suite; }
  // Initiator: the suites the relay accepts, from message 2 (ChaCha20-Poly1305 alone until then).
  crypto::SuiteSet peer_suites() const noexcept { return handshakes_.handshake().peer_suites(); }
  // Responder, after the link ended with Errc::Moved: message 1 and the session it names.
  const std::optional<LinkHandshake::Moved>& moved() const noexcept {
    return handshakes_.handshake().moved();
  }
  // Responder: the agent's message 1 said it takes ROUTES frames.
  bool peer_takes_routes() const noexcept { return handshakes_.handshake().peer_takes_routes(); }
  // Responder: queues the route list for an agent that takes it (else nothing is sent).
  void send_routes(const frame::Routes& routes);
  // start() ran: as initiator, message 1 went out on a connected socket.
  bool handshake_begun() const noexcept { return handshake_begun_; }

 private:
  void process_record(MutByteSpan record, Instant now);
  void on_transport(MutByteSpan record, Instant now);
  // One frame of an authenticated record; `last_in_record`: nothing follows it in the record.
  Result<void> on_frame(const frame::Frame& f, bool last_in_record, Instant now);
  Result<void> on_ping(const frame::Frame& f, Instant now);
  void become_established(crypto::TransportKeys keys, Instant now);
  // Initiator: message 1 of the first handshake or of an in-link one.
  void offer_handshake();
  // A PING whose answer gives the RTT (and, probing, says the link is alive).
  void queue_ping(Instant now);
  void queue_key_update(frame::KeyUpdateKind kind);
  // Runs the close that close_when_streams_end() deferred once nothing is left; true if it did.
  bool close_if_drained();
  void produce_records(Bytes& out, std::size_t max_bytes);
  void fail_link(const Error& why, bool tell_peer);
  // Queues the CLOSE frame; its record is the last this side sends.
  void say_close(const frame::CloseInfo& info);
  // Every way the link ends comes here once: the state is Closed, the streams are reset, the owner told.
  void end(const Error& why);
  void wake();

  LinkConfig cfg_;
  LinkEvents* events_;
  MuxSlot mux_;
  State state_ = State::Idle;
  KeySchedule keys_;
  LinkTimers timers_;
  RecordReader records_;
  Outbox outbox_;
  HandshakeDriver handshakes_;
  // close_when_streams_end() is waiting for the last stream.
  std::optional<frame::CloseInfo> close_when_drained_;
  bool handshake_begun_ = false;
  Instant now_{0};  // the latest time passed in
  LinkCounters counters_;
};

}  // namespace ferry::link
