// A connection from a trusted load balancer (relay.toml [proxy_protocol] trusted): before anything
// else, its PROXY v2 header (proxy_v2.hpp) is read, and exactly the header: the first 16 bytes, then
// the length they give, so that not one byte of the agent's message 1 behind it leaves the kernel
// here. The socket then goes on to admission as any other, with the header's source address standing
// for the agent's. No header within kTimeoutMs, a malformed one, or the peer's end: the socket is
// closed, before any cryptography.
#pragma once

#include <uv.h>

#include <functional>

#include "common/codec/proxy_v2.hpp"
#include "common/uv/handle.hpp"

namespace ferry::relay {

class ProxyHeaderWait {
 public:
  // A load balancer writes its header with the connection; this is for one that stalls.
  static constexpr std::uint64_t kTimeoutMs = 5000;
  // The header, with the socket now the caller's; or why there is none (the socket is closed).
  using DoneFn = std::function<void(int fd, Result<proxy_v2::Header> header)>;
  // The wait's handles have closed (after done, or after close()): the owner may destroy it now.
  using GoneFn = std::function<void(ProxyHeaderWait&)>;

  // `fd`: an accepted, non-blocking socket, owned from here on.
  ProxyHeaderWait(uv_loop_t* loop, int fd, DoneFn done, GoneFn gone);
  ProxyHeaderWait(const ProxyHeaderWait&) = delete;
  ProxyHeaderWait& operator=(const ProxyHeaderWait&) = delete;
  ~ProxyHeaderWait();

  void start();
  // Stops waiting (the relay drains): the socket is closed, `done` is not called; `gone` follows.
  void close();

 private:
  void on_readable();
  void finish(Result<proxy_v2::Header> header);
  void close_handles();

  int fd_;
  DoneFn done_;
  GoneFn gone_;
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_poll_t> poll_{handles_};
  uv::Handle<uv_timer_t> timer_{handles_};
  std::uint8_t buf_[proxy_v2::kMaxHeaderBytes];
  std::size_t have_ = 0;
  int init_error_ = 0;
  bool finished_ = false;
  bool closing_ = false;
};

}  // namespace ferry::relay
