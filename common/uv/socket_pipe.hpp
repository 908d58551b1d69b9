// Moves bytes both ways between one TCP socket and one link stream, with backpressure each way:
//
//   socket --read straight into the stream's send queue (Mux::send_space)--> stream
//            (small messages: read into a shared buffer, queued in a chunk of their own size)
//            paused with uv_read_stop when the queue is above its high watermark, resumed on writable
//   stream --on_data-------> gathered until the link's read batch ends (read_batch.hpp), then one
//            writev (uv_try_write) straight from the link's buffer --> Mux::consumed (credit back);
//            what the kernel does not take is copied once and queued with uv_write, and its credit
//            goes back from the write callback, so at most one window of bytes waits for a slow socket
//
// Half-closes pass through: the socket's EOF becomes the stream's FIN, the stream's FIN becomes
// shutdown(SHUT_WR) once every byte before it is written. The agent pipes a client's socket; the
// relay pipes the target's. attach() binds the pipe to its stream (StreamHandler), so the stream's
// bytes come to it straight from the mux.
//
// Before its stream exists, a pipe can run a handshake on the socket (the agent's SOCKS and HTTP
// front ends): start_handshake() delivers the bytes read to a callback and write_raw() answers;
// attach() then binds the stream and start() switches to piping.
//
// Lifetime (CONTRIBUTING.md "Lifetime and ownership"): when both directions are done, or on abort, the pipe
// closes its handles and calls `done` from the last close callback; only then may the owner destroy it.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "common/link/stream_ref.hpp"
#include "common/uv/handle.hpp"
#include "common/uv/link_activity.hpp"

namespace ferry::uv {

class SocketPipe final : public link::StreamHandler {
 public:
  using DoneFn = std::function<void(SocketPipe&)>;
  struct Counters {
    std::uint64_t to_link = 0;    // bytes read from the socket
    std::uint64_t from_link = 0;  // bytes written to the socket
  };

  using HandshakeFn = std::function<void(ByteSpan bytes)>;  // an empty span: EOF or a read error
  static constexpr std::size_t kHandshakeReadBytes = 16 * 1024;
  static constexpr std::uint64_t kLingerMs = 2000;
  // A socket still being given a finished stream's bytes after its link went away, but taking none
  // for this long, is closed: its reader is not coming back for them.
  static constexpr std::uint64_t kDrainIdleMs = 30'000;
  // Entries the gather list keeps between link reads: a batch of a few dozen DATA frames allocates
  // nothing, and one of thousands of tiny frames does not pin its list (16 bytes each) for the
  // pipe's life.
  static constexpr std::size_t kKeptGatherEntries = 64;

  SocketPipe(uv_loop_t* loop, DoneFn done);
  SocketPipe(uv_loop_t* loop, link::StreamRef stream, DoneFn done);

  // Handshake phase: reads go to `on_bytes` until stop_handshake().
  void start_handshake(HandshakeFn on_bytes);
  void stop_handshake();
  // Writes bytes that are not piped stream data (a SOCKS reply, an HTTP error page, or bytes an HTTP
  // forwarder relays itself); `written` runs once the kernel took them (not on close).
  void write_raw(Bytes bytes, std::function<void()> written = {});
  // Backpressure while a handshake-phase owner relays bytes itself. Both do nothing once a close
  // was asked for: the pipe then reads (and drops) until the end on its own.
  void pause_handshake();
  void resume_handshake();
  // A handshake-phase owner saw the client's EOF and passed it on.
  void mark_read_done();
  std::size_t pending_writes() const noexcept { return writing_; }
  // Closes the socket once every write is out (after an error reply, or a stream that ended before
  // its link): what the client still sends is read and dropped, the socket is shut down, and it
  // closes at the client's EOF or kLingerMs later. Asking twice changes nothing.
  void close_after_writes();
  // Takes the stream and binds its events here; `early` are bytes the client sent after its request,
  // for the stream. A pipe already closing resets the stream instead.
  void attach(link::StreamRef stream, ByteSpan early = {});
  ~SocketPipe();
  SocketPipe(const SocketPipe&) = delete;
  SocketPipe& operator=(const SocketPipe&) = delete;

  // The socket, initialised by the constructor; accept or connect into it before start().
  uv_tcp_t* socket() noexcept { return tcp_.get(); }
  // Accepts a pending connection of `server` into this pipe's socket.
  int accept_from(uv_stream_t* server) noexcept { return uv_accept(server, tcp_.stream()); }
  // Starts reading the socket. Bytes may arrive from the link before this; they are written at once.
  void start();
  // Closes the stream (RESET) if it is still open, and the socket; with `rst` the socket sends RST.
  void abort(frame::ResetCode code, bool rst = false);
  // A stream with no bytes either way for this long is reset (the relay's idle_timeout_s); 0 stops
  // the timer. Replaces a deadline.
  void set_idle_timeout(std::uint64_t ms);
  // The socket is closed `ms` from now, however many bytes arrive meanwhile: a handshake must finish
  // in time, and a client trickling a byte at a time does not extend it. Replaced by
  // set_idle_timeout(), which also cancels it with 0.
  void set_deadline(std::uint64_t ms);

  // The stream's events (StreamHandler). An owner that relays bytes itself (the HTTP forwarder)
  // calls on_fin() to shut the socket down once its writes are out.
  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  // The stream is gone (peer reset or link closed). The socket is reset too, unless the stream's
  // FIN had arrived: then every byte for it is here, and it gets them all and an orderly end.
  void on_reset(frame::ResetCode code) override;
  void on_writable() override;

  link::StreamId id() const noexcept { return stream_.id(); }
  const Counters& counters() const noexcept { return counters_; }
  bool closing() const noexcept { return closing_; }
  // Both directions ended with FIN (nothing was aborted): the stream may finish on its own.
  bool ended_cleanly() const noexcept { return read_done_ && write_side_ == WriteSide::Done && !aborted_; }
  // What the gather list holds on to between link reads (at most kKeptGatherEntries).
  std::size_t gathered_capacity() const noexcept { return gathered_.capacity(); }

  // What a read from the socket means now: handshake bytes for the front end (Raw), stream bytes
  // for the link (Piping), bytes dropped during a lingering close (Discarding), or nothing (Done).
  enum class ReadSide { Raw, Piping, Discarding, Done };
  static const char* name(ReadSide side) noexcept;
  ReadSide read_side() const noexcept { return read_side_; }
  // The socket's sending side: open, its shutdown(SHUT_WR) under way, or done (the shutdown finished,
  // or writing was abandoned).
  enum class WriteSide { Open, ShuttingDown, Done };
  static const char* name(WriteSide side) noexcept;
  WriteSide write_side() const noexcept { return write_side_; }

 private:
  struct WriteOp {
    uv_write_t req{};
    Bytes bytes;
    SocketPipe* self = nullptr;
    bool stream_data = true;  // credit goes back to the stream once written
    std::function<void()> written;
  };
  static void on_alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_write_cb(uv_write_t* req, int status) noexcept;
  static void on_shutdown_cb(uv_shutdown_t* req, int status) noexcept;
  static void on_idle_cb(uv_timer_t* t) noexcept;
  static void on_deadline_cb(uv_timer_t* t) noexcept;
  // The only read callbacks handed to libuv; they dispatch on read_side_.
  static void on_alloc_trampoline(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  static void on_read_trampoline(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;

  void resume_reading();
  bool reset_by_peer() noexcept;
  static void flush_gathered(void* self) noexcept;
  void maybe_shutdown();
  void limit_drain_if_ended();
  void maybe_done();
  void close_handles(bool rst);
  void touch() noexcept { last_activity_ = uv_now(loop_); }

  uv_loop_t* loop_;
  static void on_handshake_alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  static void on_handshake_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  void write_bytes(Bytes bytes, bool stream_data, std::function<void()> written = {});
  void discard_reads();
  void maybe_linger();
  void linger();
  static void on_discard_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  uv_stream_t* stream() noexcept { return tcp_.stream(); }

  // Dropped once the stream is gone (reset, both FINs crossed, or a close asked for): never touched
  // again then.
  link::StreamRef stream_;
  HandshakeFn handshake_;
  std::unique_ptr<std::uint8_t[]> handshake_buf_;
  bool close_when_written_ = false;  // close_after_writes() was called: the pipe owns reading now
  bool lingering_ = false;           // every write is out; waiting for the client's EOF
  link_activity::ReadTurn read_turn_;
  DoneFn done_;
  HandleGroup handles_;  // before the handles: they count in it
  Handle<uv_tcp_t> tcp_{handles_};
  Handle<uv_timer_t> idle_{handles_};
  uv_shutdown_t shutdown_req_{};
  Counters counters_;
  std::size_t writing_ = 0;  // bytes handed to uv_write, not yet written
  // DATA this read batch delivered: spans into the link's read buffer, written by flush_gathered().
  std::vector<uv_buf_t> gathered_;
  std::size_t gathered_bytes_ = 0;
  std::uint64_t idle_ms_ = 0;
  std::uint64_t last_activity_ = 0;
  // The last read was a small message: read the next into a shared buffer and queue only its bytes,
  // not a whole 64 KiB chunk (10,000 held connections answering at once). Bulk reads go in place.
  bool small_reads_ = true;
  bool read_into_small_ = false;  // the read under way goes to the loop's small-read buffer, not the queue
  bool started_ = false;
  bool reading_ = false;
  bool read_done_ = false;     // socket EOF (FIN sent on the stream) or reading abandoned
  bool fin_received_ = false;  // the stream's FIN arrived
  bool closing_ = false;
  bool aborted_ = false;
  ReadSide read_side_ = ReadSide::Raw;
  WriteSide write_side_ = WriteSide::Open;
};

}  // namespace ferry::uv
