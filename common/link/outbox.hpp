// What a link has to send, and the order it leaves in (docs/protocol.md 3, 7 and 8.1): the handshake
// message in a record of its own; then transport records, each led by the session's own control
// frames (PING, PING answers, REHANDSHAKE, CLOSE), then either the KEY_UPDATE this side owes, which
// ends its record, or stream frames from the Mux. The record that carries CLOSE is the last one
// sealed. Sans-I/O: records are appended to the caller's buffer and sealed by the KeySchedule; when
// to build one, and what the link's state allows, is the session's call.
#pragma once

#include "common/link/control_queue.hpp"
#include "common/link/key_schedule.hpp"
#include "common/link/mux.hpp"

namespace ferry::link {

class Outbox {
 public:
  explicit Outbox(std::size_t max_control_bytes) : control_(max_control_bytes) {}

  // A handshake message. The first handshake's travel in records of their own, before any transport
  // record; an in-link one's in a REHANDSHAKE frame among the control frames, whose bound it may pass
  // (ControlQueue::push).
  Result<void> put_handshake(ByteSpan message, bool in_link);
  // The session's control frames other than CLOSE; push() fails past the queue's bound (ControlQueue).
  ControlQueue& control() noexcept { return control_; }
  // CLOSE, after every control frame queued before it.
  void close(const frame::CloseInfo& info);

  // `streams` is the Mux while the link is established, else null: before, only the handshake message
  // leaves; once the link has ended, only the records up to its CLOSE.
  bool has_output(const KeySchedule& keys, const Mux* streams) const noexcept;
  // Moves a waiting handshake message to `out`.
  void take_handshake(Bytes& out);
  struct Record {
    bool sealed = false;            // false: nothing was left to send, and `out` is as it was
    bool send_key_changed = false;  // it carried KEY_UPDATE
    bool last = false;              // it carried CLOSE: nothing more can be sealed
  };
  // Builds the next transport record at the end of `out` and seals it under the send key.
  Result<Record> seal_next(Bytes& out, KeySchedule& keys, Mux* streams);

 private:
  Bytes handshake_;  // a framed handshake message
  ControlQueue control_;
  bool close_queued_ = false;
};

}  // namespace ferry::link
