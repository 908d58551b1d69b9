#include "common/uv/loop_context.hpp"

#include <cstdio>
#include <cstdlib>

namespace ferry::uv {

std::uint8_t* LoopContext::link_read_buffer(std::size_t bytes) {
  if (!link_read_) link_read_.reset(new std::uint8_t[bytes]);
  return link_read_.get();
}

std::uint8_t* LoopContext::small_read_buffer(std::size_t bytes) {
  if (!small_read_) small_read_.reset(new std::uint8_t[bytes]);
  return small_read_.get();
}

LoopContext& context(uv_loop_t* loop) noexcept {
  if (loop->data == nullptr) {
    std::fputs("ferry: a libuv loop without a LoopContext (uv::Loop attaches one)\n", stderr);
    std::abort();
  }
  return *static_cast<LoopContext*>(loop->data);
}

}  // namespace ferry::uv
