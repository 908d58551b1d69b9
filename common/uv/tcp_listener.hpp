// A listening TCP socket. The owner gets on_connection() and accepts from `stream()` there.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/result.hpp"
#include "common/uv/handle.hpp"

namespace ferry::uv {

// Takes a pending connection from `server` (in its on_connection) as a bare socket: non-blocking,
// close-on-exec, owned by the caller, so that any loop, on any thread, may adopt it (uv_tcp_open).
Result<int> accept_socket(uv_stream_t* server);

class TcpListener {
 public:
  using ConnectionFn = std::function<void(uv_stream_t* server)>;
  TcpListener(uv_loop_t* loop, ConnectionFn on_connection);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // With `reuse_port`, several listeners (one per worker loop) may bind the same address, and the
  // kernel spreads new connections over them (SO_REUSEPORT, Linux).
  Result<void> listen(const sockaddr* addr, int backlog = 511, bool reuse_port = false);
  // The bound address, with the port the kernel chose for port 0.
  std::string local_address() const;
  int local_port() const;
  uv_stream_t* stream() noexcept { return tcp_.stream(); }
  // Two-step close: `done` runs from the close callback.
  void close(std::function<void()> done = {});

 private:
  static void on_connection_cb(uv_stream_t* s, int status) noexcept;
  HandleGroup handles_;  // before the handle: it counts in it
  Handle<uv_tcp_t> tcp_{handles_};
  ConnectionFn on_connection_;
  bool closing_ = false;
};

}  // namespace ferry::uv
