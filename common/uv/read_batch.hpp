// The end of one link read: the link hands its streams spans into its read buffer, valid only until
// its read callback returns. A consumer that gathers those spans (SocketPipe writes a whole batch of
// DATA frames with one writev instead of a heap copy and a write per 16 KiB frame) asks here to be
// called back just before that buffer is reused. Per loop, like the buffer itself (loop_context.hpp).
#pragma once

#include <uv.h>

#include <vector>

namespace ferry::uv::read_batch {

using FlushFn = void (*)(void* who);

struct Deferred {
  void* who;
  FlushFn fn;
};
// The calls deferred to the end of the loop's current read batch.
struct Batch {
  std::vector<Deferred> pending;
};

// Calls fn(who) at the end of the current read batch of `loop`. The caller asks at most once per batch.
void defer(uv_loop_t* loop, void* who, FlushFn fn);
// Forgets a deferred call (its owner is going away).
void cancel(uv_loop_t* loop, void* who) noexcept;
// Runs and clears every deferred call; the reader calls this before its buffer is reused.
void run(uv_loop_t* loop);

}  // namespace ferry::uv::read_batch
