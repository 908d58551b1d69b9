// Link control frames waiting to be sent, in order, as whole frames. Frames leave from a head index,
// so taking a few from a long backlog moves no bytes; the buffer is reset once it is drained.
//
// The bound: control frames carry no credit, and many answer the peer (PING answers, WINDOWs for
// its DATA, OPEN_RESULTs, in-link handshake replies). A peer that makes this side queue them faster
// than it reads them is not buffered without end: past `max_bytes` the owner closes the link.
// LinkSession and Mux each keep one (docs/protocol.md section 6, "control frames").
#pragma once

#include "common/codec/byte_reader.hpp"
#include "common/result.hpp"

namespace ferry::link {

class ControlQueue {
 public:
  explicit ControlQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends the frames that `put(Bytes&)` encodes (one of frame::put_*). Fails when the queue then
  // holds more than its bound, and the caller ends the link; the frames stay queued either way.
  template <class Put>
  [[nodiscard]] Result<void> push(Put&& put) {
    put(bytes_);
    return within_bound();
  }
  // Appends without a verdict: for frames this side must send whatever the backlog (CLOSE), and for
  // frames the owner asks for outside the peer's input, which the next within_bound() covers.
  template <class Put>
  void append(Put&& put) {
    put(bytes_);
  }
  Result<void> within_bound() const;
  // Drops every queued frame (a lost link: what they said is rebuilt on the next one).
  void clear() noexcept {
    Bytes().swap(bytes_);
    head_ = 0;
  }

  bool empty() const noexcept { return head_ == bytes_.size(); }
  std::size_t size() const noexcept { return bytes_.size() - head_; }
  // Moves whole frames to `out` while the next one fits in `room` bytes; returns the bytes moved.
  std::size_t move_to(Bytes& out, std::size_t room);

 private:
  Bytes bytes_;
  std::size_t head_ = 0;
  std::size_t max_bytes_;
};

}  // namespace ferry::link
