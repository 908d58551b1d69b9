// What a link reports to its owner (the agent's link client, the relay's link handler, tests).
// Callbacks run inside LinkSession::receive()/tick(); they may call back into the session (send,
// consumed, reset, close), which is safe: the session re-checks its state after every callback.
//
// A stream's own events go to the StreamHandler bound to it (Mux::bind), which is how the agent and
// the relay take them. The stream callbacks here get the events of streams with no handler bound
// (tests, benchmarks, fuzzers); they mean the same as StreamHandler's.
#pragma once

#include <cstdint>

#include "common/codec/link_frame.hpp"
#include "common/crypto/keys.hpp"

namespace ferry::link {

using StreamId = std::uint32_t;

class LinkEvents {
 public:
  virtual ~LinkEvents() = default;
  // The handshake finished; `peer` is the other side's static key.
  virtual void on_established(const crypto::PublicKey& peer) { (void)peer; }
  // Responder: the peer asks for a stream. Answer with Mux::accept() now or later.
  virtual void on_open(StreamId id, const Target& target) { (void)id, (void)target; }
  // Initiator: the relay's outcome for a stream this side opened. A non-Ok result ends the stream.
  virtual void on_open_result(StreamId id, const frame::OpenResult& result) { (void)id, (void)result; }
  // Bytes for a stream. The span stays valid until the LinkSession::receive() that delivered it
  // returns (so a consumer may gather a whole read's frames and write them at once), no longer.
  // Call Mux::consumed() once the bytes have left this process (written to the socket), which
  // returns credit to the peer.
  virtual void on_data(StreamId id, ByteSpan bytes) { (void)id, (void)bytes; }
  // The peer will send no more on this stream (half-close).
  virtual void on_fin(StreamId id) { (void)id; }
  // The stream is gone (the peer reset it, or the link is closing); the id is no longer valid.
  virtual void on_reset(StreamId id, frame::ResetCode code) { (void)id, (void)code; }
  // The stream's send queue fell below the low watermark after Mux::send() had said "stop reading".
  virtual void on_writable(StreamId id) { (void)id; }
  // A probe (LinkSession::probe) was answered in time: the link is alive.
  virtual void on_alive() {}
  // Resumable links: the peer's RESUME_DONE arrived on a resumed link, so every stream it still holds
  // has been told where to carry on (Mux::stats() now counts what this side sends again).
  virtual void on_resumed() {}
  // Initiator that takes them (LinkConfig::takes_routes): the relay's route list, after the handshake
  // and after each reload of the relay's configuration.
  virtual void on_routes(const frame::Routes& routes) { (void)routes; }
  // The peer drains: no new streams on this link; open ones may finish.
  virtual void on_goaway(const frame::GoAway& g) { (void)g; }
  // The link ended. `why.code` is Errc::Closed for an authenticated close by either side.
  virtual void on_closed(const Error& why) = 0;
};

}  // namespace ferry::link
