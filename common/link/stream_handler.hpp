// What one stream reports to the object that owns it: the socket pipe that carries it, or the agent's
// client session while the relay answers its OPEN. Bound with Mux::bind() (or StreamRef::bind()), a
// handler gets its stream's events straight from the mux; a stream without one reports to the link's
// LinkEvents instead (tests, benchmarks and fuzzers use that).
//
// Callbacks run inside LinkSession::receive() or produce(); they may call back into the stream.
#pragma once

#include "common/codec/link_frame.hpp"

namespace ferry::link {

class StreamRef;

class StreamHandler {
 public:
  // Initiator: the OPEN went out as `ref`, which now reports here; its answer follows. Keeping the
  // ref lets the owner cancel it (StreamRef::reset) before the answer comes.
  virtual void on_open_sent(const StreamRef& ref) { (void)ref; }
  // Initiator: the peer's outcome. A failure ends the stream. A stream reset, or a link that went
  // down, before the peer answered also arrives here, as a failure (docs/spec.md 7: 0x01, 502).
  virtual void on_open_result(const frame::OpenResult& result) { (void)result; }
  // Bytes, valid until the LinkSession::receive() that delivered them returns. Give credit back
  // (StreamRef::consumed) once they have left this process.
  virtual void on_data(ByteSpan bytes) = 0;
  // The peer will send no more (half-close).
  virtual void on_fin() = 0;
  // The stream is gone (the peer reset it, or its link ended); the handler is no longer bound.
  virtual void on_reset(frame::ResetCode code) = 0;
  // The send queue fell below its low watermark after a send said "stop reading".
  virtual void on_writable() {}

 protected:
  ~StreamHandler() = default;
};

}  // namespace ferry::link
