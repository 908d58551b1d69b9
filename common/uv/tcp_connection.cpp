#include "common/uv/tcp_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "common/log.hpp"

namespace ferry::uv {

TcpConnection::TcpConnection(uv_loop_t* loop, DoneFn done) : loop_(loop), done_(std::move(done)) {
  tcp_.init(uv_tcp_init, loop_, this);
  // Set before the socket exists, libuv applies it on accept or open: every reply, from a SOCKS
  // answer to an ssh keystroke, leaves at once instead of waiting up to 40 ms for Nagle.
  uv_tcp_nodelay(tcp_.get(), 1);
  idle_.init(uv_timer_init, loop_, this);
  shutdown_req_.data = this;
  touch();
}

void TcpConnection::start_reading(ReadSide side) noexcept {
  read_side_ = side;  // while reading, the next read dispatches to the new side
  if (!reading_ && uv_read_start(stream(), on_alloc_trampoline, on_read_trampoline) == 0) reading_ = true;
}

void TcpConnection::read_raw(RawFn on_bytes) {
  if (closing()) return;
  raw_ = std::move(on_bytes);
  if (!raw_buf_) raw_buf_.reset(new std::uint8_t[kRawReadBytes]);
  start_reading(ReadSide::Raw);
}

void TcpConnection::stop_raw() {
  raw_ = nullptr;  // the buffer stays: the caller may still hold a span into it
  if (ending_ != Ending::Open) return;
  stop_reading();
}

void TcpConnection::pause_raw() {
  if (ending_ != Ending::Open) return;
  stop_reading();
}

void TcpConnection::resume_raw() {
  if (reading_ || ending_ != Ending::Open || !raw_ || read_done_) return;
  start_reading(ReadSide::Raw);
}

void TcpConnection::read_into_reader() {
  if (ending_ != Ending::Open || !reader_) return;
  piped_ = true;
  raw_ = nullptr;
  if (reading_ && !read_done_) {
    // Still reading raw: switching the side is enough, instead of uv_read_stop + uv_read_start, which
    // costs libuv two epoll_ctl calls per stream. The raw buffer is not in use: a new read asks again.
    read_side_ = ReadSide::Piping;
  } else {
    stop_reading();
    read_side_ = ReadSide::Piping;
    resume_reading();
  }
  raw_buf_.reset();
}

void TcpConnection::stop_reading() noexcept {
  if (reading_) uv_read_stop(stream());
  reading_ = false;
}

void TcpConnection::resume_reading() noexcept {
  if (reading_ || read_done_ || ending_ != Ending::Open || !piped_) return;
  start_reading(ReadSide::Piping);
}

void TcpConnection::mark_read_done() {
  read_done_ = true;
  maybe_done();
}

// The one pair of read callbacks libuv knows: what a read means depends on the read side's state.
void TcpConnection::on_alloc_trampoline(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpConnection*>(h->data);
  switch (self->read_side_) {
    case ReadSide::Piping:
      return self->reader_->on_alloc(buf);
    case ReadSide::Raw:
    case ReadSide::Discarding:
      *buf = uv_buf_init(reinterpret_cast<char*>(self->raw_buf_.get()), kRawReadBytes);
      return;
    case ReadSide::Done:
      break;
  }
  *buf = uv_buf_init(nullptr, 0);  // UV_ENOBUFS: the read ends without a syscall
}

void TcpConnection::on_read_trampoline(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpConnection*>(s->data);
  switch (self->read_side_) {
    case ReadSide::Piping:
      return self->reader_->on_read(nread, buf);
    case ReadSide::Raw:
      return self->on_raw_read(nread, buf);
    case ReadSide::Discarding:
      return self->on_discard_read(nread);
    case ReadSide::Done:
      self->stop_reading();
      return;
  }
}

void TcpConnection::on_raw_read(ssize_t nread, const uv_buf_t* buf) noexcept {
  if (nread == 0 || !raw_) return;
  if (nread < 0) {
    stop_reading();
    read_error_ = nread == UV_EOF ? 0 : static_cast<int>(nread);
    raw_(ByteSpan{});  // the peer went away or broke the connection
    return;
  }
  touch();
  // The callback may stop raw reading or close the connection: copy nothing, call last.
  raw_(ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
}

void TcpConnection::on_discard_read(ssize_t nread) noexcept {
  if (nread >= 0) return;  // dropped
  stop_reading();
  read_done_ = true;
  // At its EOF the peer has nothing more to say; it may still be reading what is queued for it, so
  // only a linger (every write out) ends here. A read error means the peer is gone.
  if (nread != UV_EOF || ending_ == Ending::Lingering) close_handles(false, std::nullopt);
}

void TcpConnection::write(Bytes bytes, std::function<void()> written) {
  if (closing() || bytes.empty()) return;
  auto op = std::make_unique<WriteOp>();
  op->self = this;
  op->bytes = std::move(bytes);
  op->written = std::move(written);
  op->req.data = op.get();
  const uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(op->bytes.data()), static_cast<unsigned>(op->bytes.size()));
  if (uv_write(&op->req, stream(), &buf, 1, on_write_cb) != 0) return abort(frame::ResetCode::TargetError);
  writing_ += op->bytes.size();
  op.release();  // owned by req.data until on_write_cb
}

void TcpConnection::write_now(Bytes bytes, std::function<void()> written) {
  if (!written && !closing() && writing_ == 0 && !bytes.empty()) {
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    const int n = uv_try_write(stream(), &buf, 1);
    if (n == static_cast<int>(bytes.size())) return;
    if (n > 0) bytes.erase(bytes.begin(), bytes.begin() + n);  // rare: the rest goes the queued way
  }
  write(std::move(bytes), std::move(written));
}

int TcpConnection::try_write(const uv_buf_t* bufs, unsigned count) noexcept {
  const int n = uv_try_write(stream(), bufs, count);
  return n == UV_EAGAIN ? 0 : n;
}

void TcpConnection::on_write_cb(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteOp> op{static_cast<WriteOp*>(req->data)};
  TcpConnection* self = op->self;
  self->writing_ -= op->bytes.size();
  if (status == UV_ECANCELED) return;  // closing
  if (status < 0) return self->abort(frame::ResetCode::TargetError);
  self->touch();  // bytes leaving count as activity: a long download is not idle
  if (op->written) op->written();
  self->after_writes();
}

void TcpConnection::after_writes() {
  if (ending_ == Ending::AfterWrites) {
    if (writing_ == 0) linger();
    return;
  }
  maybe_shutdown();
}

void TcpConnection::shutdown_after_writes() {
  shutdown_wanted_ = true;
  maybe_shutdown();
}

void TcpConnection::maybe_shutdown() {
  if (!shutdown_wanted_ || writing_ > 0 || write_side_ != WriteSide::Open || ending_ != Ending::Open) return;
  write_side_ = WriteSide::ShuttingDown;
  if (uv_shutdown(&shutdown_req_, stream(), on_shutdown_cb) != 0) {
    write_side_ = WriteSide::Done;
    maybe_done();
  }
}

void TcpConnection::on_shutdown_cb(uv_shutdown_t* req, int status) noexcept {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<TcpConnection*>(req->data);
  self->write_side_ = WriteSide::Done;
  self->maybe_done();
}

// A lingering close (as HTTP servers do after an error reply): what the peer still sends is read and
// dropped, from now until its EOF. Closing with unread bytes would make the kernel answer with RST,
// and the peer could lose the reply it has not read yet.
void TcpConnection::close_after_writes() {
  if (ending_ != Ending::Open) return;
  ending_ = Ending::AfterWrites;
  if (SocketReader* r = std::exchange(reader_, nullptr)) r->on_closing(std::nullopt);
  raw_ = nullptr;
  if (!read_done_) {  // the peer's EOF came already: nothing more can arrive
    if (!raw_buf_) raw_buf_.reset(new std::uint8_t[kRawReadBytes]);
    start_reading(ReadSide::Discarding);
  }
  if (writing_ == 0) linger();
}

// Every write is out: shutdown(SHUT_WR), then wait for the peer's EOF, at most kLingerMs. A write
// callback can ask for the close and then find nothing left to write itself: runs once.
void TcpConnection::linger() {
  if (ending_ != Ending::AfterWrites) return;
  ending_ = Ending::Lingering;
  if (read_done_) return close_handles(false, std::nullopt);  // the peer's EOF came already: it is done
  uv_timer_start(
      idle_.get(),
      [](uv_timer_t* t) { static_cast<TcpConnection*>(t->data)->close_handles(false, std::nullopt); },
      kLingerMs, 0);
  // A FIN may have shut the socket down already (shutdown_after_writes): a second uv_shutdown would
  // fail and close at once.
  if (write_side_ != WriteSide::Open) return;
  write_side_ = WriteSide::ShuttingDown;
  if (uv_shutdown(&shutdown_req_, stream(), [](uv_shutdown_t*, int) {}) != 0)
    close_handles(false, std::nullopt);
}

void TcpConnection::set_idle_timeout(std::uint64_t ms) {
  idle_ms_ = ms;
  if (ending_ == Ending::Closed || ending_ == Ending::Lingering) return;  // the linger timer runs now
  if (ms == 0)
    uv_timer_stop(idle_.get());
  else
    uv_timer_start(idle_.get(), on_idle_cb, ms, 0);
}

void TcpConnection::set_deadline(std::uint64_t ms) {
  idle_ms_ = 0;
  if (ending_ == Ending::Closed || ending_ == Ending::Lingering) return;
  uv_timer_start(
      idle_.get(),
      [](uv_timer_t* t) { static_cast<TcpConnection*>(t->data)->abort(frame::ResetCode::IdleTimeout); }, ms,
      0);
}

void TcpConnection::on_idle_cb(uv_timer_t* t) noexcept {
  auto* self = static_cast<TcpConnection*>(t->data);
  const std::uint64_t idle_for = uv_now(self->loop_) - self->last_activity_;
  // A close that stalls with bytes still queued (a reader that stopped taking a finished stream's
  // bytes) is cut with RST: its client must not take the part it got for the whole.
  if (idle_for >= self->idle_ms_)
    return self->abort(frame::ResetCode::IdleTimeout,
                       self->ending_ == Ending::AfterWrites && self->writing_ > 0);
  uv_timer_start(t, on_idle_cb, self->idle_ms_ - idle_for, 0);
}

// libuv reports a connection reset as EOF when the poll said HUP after a short read (it reads no
// further, so the error is never seen). The kernel still holds it: a pending ECONNRESET in SO_ERROR
// means the peer aborted. Once per stream, at its end.
bool TcpConnection::reset_by_peer() noexcept {
  uv_os_fd_t fd;
  if (uv_fileno(tcp_.handle(), &fd) != 0) return false;
  int error = 0;
  socklen_t len = sizeof error;
  // Only an abort: a soft error left by an ICMP message (EHOSTUNREACH, ...) followed by a clean FIN
  // is a complete stream.
  return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 &&
         (error == ECONNRESET || error == ETIMEDOUT || error == EPIPE);
}

void TcpConnection::abort(frame::ResetCode code, bool rst) {
  aborted_ = true;
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "connection aborted (reset code " + std::to_string(static_cast<int>(code)) +
                           "; reading " + name(read_side_) + ", writing " + name(write_side_) + ", " +
                           name(ending_) + ")");
  close_handles(rst, code);
}

void TcpConnection::maybe_done() {
  if (read_done_ && write_side_ == WriteSide::Done) close_handles(false, std::nullopt);
}

void TcpConnection::close_handles(bool rst, std::optional<frame::ResetCode> aborted) {
  if (ending_ == Ending::Closed) return;
  ending_ = Ending::Closed;
  // Only a socket that was piping sends RST; one still dialling or in its handshake just closes.
  const bool reset_socket = rst && (piped_ || carries_stream_);
  if (SocketReader* r = std::exchange(reader_, nullptr)) r->on_closing(aborted);
  raw_ = nullptr;
  read_side_ = ReadSide::Done;
  uv_timer_stop(idle_.get());
  if (reset_socket)
    tcp_.close_reset();
  else
    tcp_.close();
  idle_.close();
  handles_.when_closed([this] {
    // From a copy: the owner may destroy this connection, and the callback with it, from inside.
    if (auto done = std::move(done_)) done(*this);
  });
}

const char* TcpConnection::name(ReadSide side) noexcept {
  switch (side) {
    case ReadSide::Raw:
      return "raw";
    case ReadSide::Piping:
      return "piping";
    case ReadSide::Discarding:
      return "discarding";
    case ReadSide::Done:
      return "done";
  }
  return "?";
}

const char* TcpConnection::name(WriteSide side) noexcept {
  switch (side) {
    case WriteSide::Open:
      return "open";
    case WriteSide::ShuttingDown:
      return "shutting down";
    case WriteSide::Done:
      return "done";
  }
  return "?";
}

const char* TcpConnection::name(Ending ending) noexcept {
  switch (ending) {
    case Ending::Open:
      return "open";
    case Ending::AfterWrites:
      return "closing after writes";
    case Ending::Lingering:
      return "lingering";
    case Ending::Closed:
      return "closed";
  }
  return "?";
}

}  // namespace ferry::uv
