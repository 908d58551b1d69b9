// One TCP socket (a client of the agent, a target of the relay, a scrape of the admin endpoint): its
// reads, writes, half-closes, timers and close. It knows nothing of link streams. Bytes read go to
// whoever reads the socket now:
//
//   Raw         a callback gets each read (the agent's SOCKS and HTTP front ends, the admin page)
//   Piping      a SocketReader (uv::SocketPipe) reads straight into a link stream's send queue
//   Discarding  a lingering close reads and drops what the peer still sends, until its EOF
//   Done        nothing more is read
//
// libuv knows one pair of read callbacks, which dispatch on that state. Writes are the owner's
// (write, write_now) or the pipe's; a shutdown(SHUT_WR) follows the last of them once asked for.
//
// Lifetime (CONTRIBUTING.md "Lifetime and ownership"): when both directions are done, or on abort,
// the connection closes its handles and calls `done` from the last close callback; only then may
// the owner destroy it. A reader is told when the close starts (SocketReader::on_closing), so it
// lets go of what it holds before that.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>

#include "common/codec/link_frame.hpp"
#include "common/uv/handle.hpp"

namespace ferry::uv {

class TcpConnection;

// Who reads the socket in the Piping state.
class SocketReader {
 public:
  virtual void on_alloc(uv_buf_t* buf) noexcept = 0;
  virtual void on_read(ssize_t nread, const uv_buf_t* buf) noexcept = 0;
  // The connection closes: aborted (with the code a stream should be reset with), or ended. The
  // reader lets go of its stream now.
  virtual void on_closing(std::optional<frame::ResetCode> aborted) noexcept = 0;

 protected:
  ~SocketReader() = default;
};

class TcpConnection {
 public:
  using DoneFn = std::function<void(TcpConnection&)>;
  using RawFn = std::function<void(ByteSpan bytes)>;  // an empty span: EOF or a read error
  static constexpr std::size_t kRawReadBytes = 16 * 1024;
  static constexpr std::uint64_t kLingerMs = 2000;

  enum class ReadSide { Raw, Piping, Discarding, Done };
  static const char* name(ReadSide side) noexcept;
  // The socket's sending side: open, its shutdown(SHUT_WR) under way, or done (the shutdown finished,
  // or writing was abandoned).
  enum class WriteSide { Open, ShuttingDown, Done };
  static const char* name(WriteSide side) noexcept;
  // How the connection ends: open; closing once every write is out (close_after_writes); lingering
  // (every write out, the socket shut down, waiting for the peer's EOF); closed (handles closing).
  enum class Ending { Open, AfterWrites, Lingering, Closed };
  static const char* name(Ending ending) noexcept;

  TcpConnection(uv_loop_t* loop, DoneFn done);
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // The socket, initialised by the constructor; accept or connect into it before reading.
  uv_tcp_t* socket() noexcept { return tcp_.get(); }
  uv_stream_t* stream() noexcept { return tcp_.stream(); }
  uv_loop_t* loop() const noexcept { return loop_; }
  // Accepts a pending connection of `server` into this socket.
  int accept_from(uv_stream_t* server) noexcept { return uv_accept(server, tcp_.stream()); }

  // Raw reads: each read goes to `on_bytes` until stop_raw(). pause_raw()/resume_raw() are the
  // owner's backpressure; both do nothing once a close was asked for (the connection then reads, and
  // drops, until the end on its own).
  void read_raw(RawFn on_bytes);
  void stop_raw();
  void pause_raw();
  void resume_raw();
  // `reader` (a pipe that carries a stream) hears of the close from now on.
  void set_reader(SocketReader& reader) noexcept { reader_ = &reader; }
  // The reader set takes the socket's reads from now on. Reading starts, or goes on without a pause
  // if it was reading raw.
  void read_into_reader();
  // Piping backpressure: the reader stops and restarts reading.
  void stop_reading() noexcept;
  void resume_reading() noexcept;
  // The peer's EOF came (or the owner stops reading for good).
  void mark_read_done();
  // Why raw reading ended: 0 for the peer's EOF, else the libuv error (UV_ECONNRESET, ...). An
  // owner that passes the end on must not present an aborted connection as a complete one.
  int read_error() const noexcept { return read_error_; }
  // The socket is connected and carries a stream of bytes of its own (a direct connection in split
  // mode, and its client): abort(code, true) sends RST, as a piped socket's does.
  void carries_stream() noexcept { carries_stream_ = true; }

  // Queued write; `written` runs once the kernel took the bytes (not on close). A failed write aborts.
  void write(Bytes bytes, std::function<void()> written = {});
  // A reply that fits the socket's buffer is written at once, with no request, no later callback and
  // no epoll_ctl to watch for writability; the rest is queued as write() does.
  void write_now(Bytes bytes, std::function<void()> written = {});
  // A writev that takes what the kernel takes now: bytes written, or a negative libuv error. It
  // refuses (0) while queued writes wait, which keeps the bytes in order.
  int try_write(const uv_buf_t* bufs, unsigned count) noexcept;
  std::size_t pending_writes() const noexcept { return writing_; }
  // shutdown(SHUT_WR) once every queued write is out (the stream's FIN). Asking twice changes nothing.
  void shutdown_after_writes();

  // Closes once every write is out (after an error reply, or a stream that ended before its link):
  // what the peer still sends is read and dropped, the socket is shut down, and it closes at the
  // peer's EOF or kLingerMs later.
  void close_after_writes();
  // Closes now; with `rst` the socket sends RST (an aborted stream must not look complete). The
  // reader hears `code`.
  void abort(frame::ResetCode code, bool rst = false);

  // A connection with no bytes either way for this long is aborted; 0 stops the timer. Replaces a
  // deadline.
  void set_idle_timeout(std::uint64_t ms);
  std::uint64_t idle_timeout() const noexcept { return idle_ms_; }
  // Closes `ms` from now, however many bytes arrive meanwhile: a handshake must finish in time, and a
  // peer trickling a byte at a time does not extend it. Replaced by set_idle_timeout().
  void set_deadline(std::uint64_t ms);
  void touch() noexcept { last_activity_ = uv_now(loop_); }

  // libuv reports a connection reset as EOF when the poll said HUP after a short read; SO_ERROR still
  // holds it. True when the peer aborted.
  bool reset_by_peer() noexcept;

  ReadSide read_side() const noexcept { return read_side_; }
  WriteSide write_side() const noexcept { return write_side_; }
  Ending ending() const noexcept { return ending_; }
  bool read_done() const noexcept { return read_done_; }
  bool reading() const noexcept { return reading_; }
  bool closing() const noexcept { return ending_ == Ending::Closed; }
  // A close was asked for, after writes or now: no new reader, no new stream.
  bool ending_asked() const noexcept { return ending_ != Ending::Open; }
  // Both directions ended with FIN and nothing was aborted.
  bool ended_cleanly() const noexcept { return read_done_ && write_side_ == WriteSide::Done && !aborted_; }

 private:
  struct WriteOp {
    uv_write_t req{};
    Bytes bytes;
    TcpConnection* self = nullptr;
    std::function<void()> written;
  };
  static void on_alloc_trampoline(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept;
  static void on_read_trampoline(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  void on_raw_read(ssize_t nread, const uv_buf_t* buf) noexcept;
  void on_discard_read(ssize_t nread) noexcept;
  static void on_write_cb(uv_write_t* req, int status) noexcept;
  static void on_shutdown_cb(uv_shutdown_t* req, int status) noexcept;
  static void on_idle_cb(uv_timer_t* t) noexcept;
  void start_reading(ReadSide side) noexcept;
  void after_writes();
  void maybe_shutdown();
  void linger();
  void maybe_done();
  void close_handles(bool rst, std::optional<frame::ResetCode> aborted);

  uv_loop_t* loop_;
  DoneFn done_;
  HandleGroup handles_;  // before the handles: they count in it
  Handle<uv_tcp_t> tcp_{handles_};
  Handle<uv_timer_t> idle_{handles_};
  uv_shutdown_t shutdown_req_{};
  RawFn raw_;
  std::unique_ptr<std::uint8_t[]> raw_buf_;  // raw and discarded reads
  SocketReader* reader_ = nullptr;
  ReadSide read_side_ = ReadSide::Raw;
  WriteSide write_side_ = WriteSide::Open;
  Ending ending_ = Ending::Open;
  bool reading_ = false;          // uv_read_start is in effect
  bool read_done_ = false;        // the peer's EOF, or reading abandoned
  bool shutdown_wanted_ = false;  // shutdown_after_writes() was asked
  bool aborted_ = false;
  bool piped_ = false;           // a reader took the socket (it is connected, and carried a stream)
  bool carries_stream_ = false;  // connected and carrying bytes for its owner (carries_stream())
  std::size_t writing_ = 0;      // bytes handed to uv_write, not yet written
  int read_error_ = 0;           // of the raw read that ended reading
  std::uint64_t idle_ms_ = 0;
  std::uint64_t last_activity_ = 0;
};

}  // namespace ferry::uv
