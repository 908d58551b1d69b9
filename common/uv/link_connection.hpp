// A LinkSession on a libuv TCP socket: reads feed receive(), produce() feeds writes, a timer drives
// tick(). The owner's LinkEvents go to the session as they are; its streams' events go to the
// handlers bound in the mux.
//
// Lifetime (CONTRIBUTING.md "Lifetime and ownership"): close() or the end of the link starts a two-step
// close. Pending output (the authenticated CLOSE record) is flushed for at most kCloseFlushMs, then the
// handles are closed, and `on_gone` runs from the last close callback; only then may the owner destroy the
// object.
#pragma once

#include <uv.h>

#include <array>
#include <functional>
#include <memory>

#include "common/link/link_session.hpp"
#include "common/uv/handle.hpp"
#include "common/uv/link_activity.hpp"
#include "common/uv/unsent_budget.hpp"

namespace ferry::uv {

class LinkConnection final {
 public:
  using GoneFn = std::function<void(LinkConnection&)>;
  // One read buffer per loop thread (reads are consumed before read_cb returns), so idle links hold
  // no buffer of their own. At most one buffer is read per event. End to end, 256 KiB beat 128 KiB,
  // 512 KiB and 1 MiB (docs/decisions/0010-256-kib-link-reads.md): the records decrypted in place,
  // and the writev from them, stay in L2.
  static constexpr std::size_t kReadBytes = 256 * 1024;
  // While another link of this thread is active, a read is link_activity::kTurnBytes.
  // Records are produced in batches, written with one syscall each. While the kernel takes every batch
  // at once (a fast path), batches are large: loopback TCP costs the sender less CPU per byte the
  // larger the write, and 512 KiB measured best end to end, staying in L2
  // (docs/decisions/0003-512-kib-write-batches.md).
  // Once the kernel pushes back (a slow path), at most one small batch waits in user space, so the
  // round-robin scheduler, not a FIFO, decides what goes next.
  static constexpr std::size_t kLargeBatch = 512 * 1024;
  static constexpr std::size_t kSmallBatch = 64 * 1024;
  // Unsent bytes the kernel may hold (TCP_NOTSENT_LOWAT) follow the path's rate (unsent_budget.hpp),
  // looked up at most this often while the link sends; batches never exceed that budget either.
  static constexpr std::uint64_t kRetuneMs = 50;
  static constexpr std::uint64_t kTickMs = 100;
  // Buffers of finished writes kept for the next batches.
  static constexpr std::size_t kSpareBuffers = 1;
  // A link with nothing to send for this long returns its batch buffers and pooled chunks.
  static constexpr std::int64_t kIdleTrimMs = 2000;
  static constexpr std::int64_t kCloseFlushMs = 2000;

  LinkConnection(uv_loop_t* loop, link::LinkConfig config, link::LinkEvents& events, GoneFn on_gone);
  ~LinkConnection();
  LinkConnection(const LinkConnection&) = delete;
  LinkConnection& operator=(const LinkConnection&) = delete;

  // Initiator: connects, then starts the handshake. A connect that has not finished after the
  // handshake timeout ends the link with Errc::Timeout.
  Result<void> connect(const sockaddr* addr);
  // Responder: accepts a pending connection from `server`, then waits for message 1.
  Result<void> accept(uv_stream_t* server);
  // Responder on a socket accepted elsewhere (uv::accept_socket), perhaps by another loop: takes
  // ownership of `fd` when it succeeds; otherwise the caller still owns it.
  Result<void> adopt(int fd);

  // A resumed link goes to the owner of the session it carries on (the relay's link handler that
  // held it): its events, its streams if it is lost too, and its end are that owner's from now on.
  void set_owner(link::LinkEvents& events, std::function<void(std::unique_ptr<link::Mux>)> keep_streams,
                 GoneFn on_gone) {
    session_.set_owner(events, std::move(keep_streams));
    on_gone_ = std::move(on_gone);
  }
  link::LinkSession& session() noexcept { return session_; }
  const link::LinkSession& session() const noexcept { return session_; }
  link::Mux& mux() noexcept { return session_.mux(); }
  const link::Mux& mux() const noexcept { return session_.mux(); }
  // Authenticated close; the socket closes once the CLOSE record is written.
  void close(frame::CloseCode code, std::string_view reason) { session_.close(code, reason); }
  // A drain: closes once every stream has ended both ways and its last bytes are out.
  void close_when_streams_end(frame::CloseCode code, std::string_view reason) {
    session_.close_when_streams_end(code, reason);
  }
  // Responder: bytes another worker read from this socket before it moved here (a resume's message
  // 1), taken as if read now. Right after adopt().
  void receive_first(Bytes& bytes);
  // After the session ended with Errc::Moved: a duplicate of the socket, for the worker the
  // connection moves to, and this one closes its handles (-1 when there is none to give).
  int release_socket();
  // Checks the link now: a PING that must be answered soon (LinkSession::probe).
  void probe();
  // Drops the socket now, without a CLOSE record (used when the loop shuts down).
  void abort();
  bool closing() const noexcept { return closing_; }
  // Bytes the kernel holds for this socket that nobody has read yet: a connection accepted in the same
  // burst as many others, whose message 1 waits to be read in this loop iteration.
  bool unread_bytes_waiting() const noexcept;
  const std::string& peer_address() const noexcept { return peer_address_; }
  // The agent's address as a trusted load balancer's PROXY header gave it: logs use it from now on.
  void set_peer_address(std::string address) { peer_address_ = std::move(address); }
  // The first bytes the peer sent (at most 12), as they came: a relay tells a PROXY v2 header sent
  // from an address it does not trust apart from other garbage.
  ByteSpan first_bytes() const noexcept { return {first_bytes_.data(), first_bytes_len_}; }

 private:
  struct WriteOp {
    uv_write_t req{};
    Bytes bytes;
    std::size_t queued = 0;  // the tail of `bytes` the kernel had not taken
    LinkConnection* self = nullptr;
  };

  static void on_connect_cb(uv_connect_t* req, int status) noexcept;
  void begin_responder();
  static void on_alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  void note_activity(std::size_t moved);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_write_cb(uv_write_t* req, int status) noexcept;
  static void on_tick_cb(uv_timer_t* t) noexcept;
  static void on_prepare_cb(uv_prepare_t* p) noexcept;
  static void on_shutdown_cb(uv_shutdown_t* req, int status) noexcept;

  void begin(link::Instant now);
  void flush();
  void wake();
  void close_handles();
  void finish_close();  // after the last record: shutdown(SHUT_WR), then close on the peer's EOF
  void trim_if_idle(link::Instant now);
  link::Instant now() const noexcept;

  // The session ended (LinkConfig::on_end): flush the CLOSE record, then close.
  void on_session_end();
  // While the link sends, at most every kRetuneMs: the unsent budget from the pacing rate, and the
  // streams' window cap from the path's minimum RTT (uv/tcp_path.hpp).
  void retune_unsent_budget();

  uv_loop_t* loop_;
  HandleGroup handles_;  // before the handles: they count in it
  Handle<uv_tcp_t> tcp_{handles_};
  Handle<uv_timer_t> timer_{handles_};
  Handle<uv_prepare_t> prepare_{handles_};
  link_activity::ReadTurn read_turn_;
  link_activity::MovedBytes moved_;  // heavy links do not make the thread's others take turns
  uv_connect_t connect_req_{};
  uv_shutdown_t shutdown_req_{};
  GoneFn on_gone_;
  link::LinkSession session_;
  std::size_t writing_bytes_ = 0;
  std::size_t batch_ = kSmallBatch;
  std::size_t unsent_budget_ = kMaxUnsentBudget;  // until the first measurement says otherwise
  std::uint64_t tuned_at_ms_ = 0;
  int fd_ = -1;
  Bytes scratch_;             // the batch being produced and written
  std::vector<Bytes> spare_;  // finished writes' buffers, reused by later batches (at most kSpareBuffers)
  std::string peer_address_;
  std::array<std::uint8_t, 12> first_bytes_{};
  std::size_t first_bytes_len_ = 0;
  link::Instant close_started_{0};
  link::Instant connect_started_{0};
  bool connecting_ = false;  // connect() called, on_connect_cb not yet run
  bool reading_ = false;
  bool closing_ = false;  // the link ended; flushing the last records
  bool handles_closing_ = false;
  bool shutdown_started_ = false;
  bool shutdown_done_ = false;
  bool eof_seen_ = false;
  bool trimmed_ = true;
  link::Instant last_output_{0};
};

}  // namespace ferry::uv
