// RAII for a libuv loop, one per thread (libuv docs/src/design.rst: a loop is not thread-safe).
#pragma once

#include <uv.h>

#include <string>

#include "common/link/clock.hpp"
#include "common/result.hpp"
#include "common/uv/loop_context.hpp"

namespace ferry::uv {

class Loop {
 public:
  Loop();
  // Runs the loop until the handles closed by now are gone, then closes it. Every owner must have
  // closed its handles before; a handle still open here is a bug and aborts in debug builds.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() noexcept { return &loop_; }
  int run() { return uv_run(&loop_, UV_RUN_DEFAULT); }
  link::Instant now() const noexcept { return link::Instant(static_cast<std::int64_t>(uv_now(&loop_))); }
  // uv_loop_close() after draining close callbacks: 0 when every handle was closed.
  int close();

 private:
  uv_loop_t loop_{};
  LoopContext context_;  // loop_.data
  bool closed_ = false;
};

// "127.0.0.1:7443", "[::1]:7443" -> sockaddr_storage.
Result<sockaddr_storage> parse_socket_address(const std::string& text);
std::string format_socket_address(const sockaddr* sa);

}  // namespace ferry::uv
