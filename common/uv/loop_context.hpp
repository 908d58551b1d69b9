// What the links and pipes of one event loop share, reached through uv_loop_t.data (uv::Loop sets
// it; a loop made by hand attaches one with attach()): the read buffers, the deferred writes of the
// read batch under way (read_batch.hpp) and the light links that moved bytes lately
// (link_activity.hpp). Per loop rather than per thread: each loop has its own, a test's fresh loop
// starts clean, and nothing needs clearing between tests.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>

#include "common/uv/link_activity.hpp"
#include "common/uv/read_batch.hpp"

namespace ferry::uv {

class LoopContext {
 public:
  // The buffer every link of the loop reads into (LinkConnection::kReadBytes): libuv calls read_cb
  // right after alloc_cb on this loop, and the session copies a partial record out before it returns.
  std::uint8_t* link_read_buffer(std::size_t bytes);
  // Where a socket that sends small messages is read before its bytes are copied into a chunk of
  // their own size (SocketPipe).
  std::uint8_t* small_read_buffer(std::size_t bytes);

  read_batch::Batch batch;
  link_activity::RecentLinks recent;

  // Makes `ctx` the context of `loop` (for loops not made by uv::Loop).
  static void attach(uv_loop_t* loop, LoopContext& ctx) noexcept { loop->data = &ctx; }

 private:
  std::unique_ptr<std::uint8_t[]> link_read_;
  std::unique_ptr<std::uint8_t[]> small_read_;
};

// The loop's context; a loop without one is a programming error and aborts.
LoopContext& context(uv_loop_t* loop) noexcept;

}  // namespace ferry::uv
