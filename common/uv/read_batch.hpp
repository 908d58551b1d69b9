// The end of one link read: the link hands its streams spans into its read buffer, valid only until
// its read callback returns. A consumer that gathers those spans (SocketPipe writes a whole batch of
// DATA frames with one writev instead of a heap copy and a write per 16 KiB frame) asks here to be
// called back just before that buffer is reused. Per thread, like the buffer itself.
#pragma once

namespace ferry::uv::read_batch {

using FlushFn = void (*)(void* who);

// Calls fn(who) at the end of the current read batch. The caller asks at most once per batch.
void defer(void* who, FlushFn fn);
// Forgets a deferred call (its owner is going away).
void cancel(void* who) noexcept;
// Runs and clears every deferred call; the reader calls this before its buffer is reused.
void run();

}  // namespace ferry::uv::read_batch
