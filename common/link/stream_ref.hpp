// A value that names one stream: the link it rides, that link's generation, and the stream id. It is
// what an owner keeps instead of a mux pointer, and it is safe to use after its link is gone: every
// call then does nothing, so credit for a stream of a link that went down never lands on a new link's
// stream that happens to share its id.
//
// The link (StreamLink) decides which mux a generation means: the agent's reconnecting link answers
// only for the connection the stream was opened on; a mux answers for itself.
#pragma once

#include <cstdint>

#include "common/link/mux.hpp"

namespace ferry::link {

class StreamRef {
 public:
  StreamRef() = default;
  StreamRef(StreamLink& link, std::uint64_t generation, StreamId id) noexcept
      : link_(&link), generation_(generation), id_(id) {}

  StreamId id() const noexcept { return id_; }
  // The ref still names a stream (it was not dropped). Its link may have gone all the same.
  bool attached() const noexcept { return link_ != nullptr; }
  // The stream's mux while its link lives, else nullptr.
  Mux* mux() const noexcept { return link_ ? link_->mux_of(generation_) : nullptr; }
  // Forgets the stream: later calls do nothing (the id stays, for logs).
  void drop() noexcept { link_ = nullptr; }
  // Unbinds the stream's handler and forgets the stream, which runs on: bytes and a FIN it has queued
  // still go out. For a handler going away from a stream that ended cleanly.
  void leave() {
    bind(nullptr);
    drop();
  }

  // As Mux's calls of the same names. send() and commit_send() return true when the link is gone:
  // there is nothing to pause for, and the stream's reset is on its way.
  bool send(ByteSpan bytes) const {
    Mux* m = mux();
    return m ? m->send(id_, bytes) : true;
  }
  MutByteSpan send_space() const {
    Mux* m = mux();
    return m ? m->send_space(id_) : MutByteSpan{};
  }
  bool commit_send(std::size_t n) const {
    Mux* m = mux();
    return m ? m->commit_send(id_, n) : true;
  }
  void consumed(std::size_t n, Instant now) const {
    if (Mux* m = mux()) m->consumed(id_, n, now);
  }
  void finish() const {
    if (Mux* m = mux()) m->finish(id_);
  }
  std::size_t queued() const {
    Mux* m = mux();
    return m ? m->queued(id_) : 0;
  }
  bool budget_tight() const {
    Mux* m = mux();
    return m && m->budget_tight();
  }
  // Events for the stream go to `handler` from now on (nullptr: to the link's LinkEvents).
  void bind(StreamHandler* handler) const {
    if (Mux* m = mux()) m->bind(id_, handler);
  }
  // Aborts the stream both ways (RESET) and drops the ref; its handler hears nothing more.
  void reset(frame::ResetCode code) {
    if (Mux* m = mux()) m->reset(id_, code);
    drop();
  }

 private:
  StreamLink* link_ = nullptr;
  std::uint64_t generation_ = 0;
  StreamId id_ = 0;
};

}  // namespace ferry::link
