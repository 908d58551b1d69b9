// A stream the agent carries itself, in split mode (agent.toml `[routes] direct_outside`): its target
// is outside the office's routes, so the laptop resolves and dials it (net::Dialer: the relay's own
// Happy Eyeballs) and its bytes never touch the link. It reports to its owner as a link stream does
// (link::StreamHandler: on_open_result, on_data, on_fin, on_reset, on_writable), so the SOCKS/CONNECT
// pipe and the HTTP forwarder treat a direct origin as they treat a relayed one.
//
// Backpressure both ways, as a link stream's window and send queue give it:
//   send() answers "stop" once kHighWater bytes wait for the target's socket; on_writable follows
//   when they fall below kLowWater;
//   bytes read from the target count until the owner hands them back (consumed(), once its client
//   has them); reading pauses while kHighWater are outstanding, and resumes below kLowWater.
//
// Lifetime: owned through Ptr, whose deleter lets the stream go. One that ended with a FIN each way,
// or that its owner left cleanly (leave()), finishes its writes and closes in order; anything else is
// aborted with RST, so the target cannot take a part for the whole. It frees itself once its socket
// has closed; its owner hears nothing after the release.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "common/codec/target.hpp"
#include "common/link/stream_handler.hpp"
#include "common/net/dialer.hpp"
#include "common/uv/tcp_connection.hpp"

namespace ferry::agent {

class DirectStream {
 public:
  static constexpr std::size_t kHighWater = 256 * 1024;
  static constexpr std::size_t kLowWater = 64 * 1024;
  static constexpr std::uint64_t kConnectTimeoutMs = 10'000;
  // No byte either way for this long: the connection is aborted (the relay's default idle_timeout_s).
  static constexpr std::uint64_t kIdleTimeoutMs = 900'000;
  // A released stream whose target takes none of its last bytes for this long is cut with RST.
  static constexpr std::uint64_t kCloseIdleMs = 30'000;

  struct Release {
    void operator()(DirectStream* s) const noexcept { s->release(); }
  };
  using Ptr = std::unique_ptr<DirectStream, Release>;

  // `handler` hears the dial's outcome (on_open_result) and then the stream's events. `lookups`
  // bounds the name lookups of every direct stream together (libuv's few threads also resolve the
  // relay's name).
  static Ptr make(uv_loop_t* loop, const Target& target, std::shared_ptr<net::LookupSlots> lookups,
                  link::StreamHandler& handler);
  DirectStream(const DirectStream&) = delete;
  DirectStream& operator=(const DirectStream&) = delete;

  // Resolves and dials. The outcome may come before start() returns (a literal that cannot be
  // dialled): the handler must be ready for it.
  void start();
  // The stream's events go to `handler` from now on.
  void bind(link::StreamHandler& handler) noexcept { handler_ = &handler; }

  // Queues bytes for the target. False: stop reading the client until on_writable.
  bool send(ByteSpan bytes);
  // The target gets a FIN once every queued byte is written.
  void finish();
  // `n` bytes of on_data have left this process: reading may go on.
  void consumed(std::size_t n);
  // The owner goes with both of its directions ended cleanly: queued bytes and the FIN still go out.
  void leave() noexcept { left_cleanly_ = true; }

  // The address that answered ("203.0.113.5:443"), once connected.
  const std::string& dialled() const noexcept { return dialled_; }

 private:
  DirectStream(uv_loop_t* loop, const Target& target, std::shared_ptr<net::LookupSlots> lookups,
               link::StreamHandler& handler);
  ~DirectStream() = default;  // from release() or the socket's close, whichever comes last
  void release() noexcept;
  void on_dialled(const net::DialResult& r);
  void on_target_bytes(ByteSpan bytes);
  void on_closed();

  uv_loop_t* loop_;
  Target target_;
  std::shared_ptr<net::LookupSlots> lookups_;
  link::StreamHandler* handler_;
  std::unique_ptr<uv::TcpConnection> conn_;
  net::Dialer::Ptr dialer_;
  std::string dialled_;
  std::size_t unconsumed_ = 0;  // read from the target, not yet handed back
  bool read_paused_ = false;
  bool send_full_ = false;  // send() said "stop": on_writable is owed
  bool connected_ = false;
  bool fin_sent_ = false;      // finish() was asked
  bool fin_received_ = false;  // the target's EOF came
  bool left_cleanly_ = false;
  bool released_ = false;
  bool closed_ = false;  // the socket's handles have closed
};

}  // namespace ferry::agent
