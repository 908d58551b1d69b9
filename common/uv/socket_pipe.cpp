#include "common/uv/socket_pipe.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "common/uv/link_activity.hpp"
#include "common/uv/loop_context.hpp"
#include "common/uv/read_batch.hpp"

namespace ferry::uv {

SocketPipe::SocketPipe(uv_loop_t* loop, DoneFn done) : loop_(loop), done_(std::move(done)) {
  tcp_.init(uv_tcp_init, loop_, this);
  // Set before the socket exists, libuv applies it on accept or open: every reply, from a SOCKS
  // answer to an ssh keystroke, leaves at once instead of waiting up to 40 ms for Nagle.
  uv_tcp_nodelay(tcp_.get(), 1);
  idle_.init(uv_timer_init, loop_, this);
  shutdown_req_.data = this;
  touch();
}

SocketPipe::SocketPipe(uv_loop_t* loop, link::StreamRef stream, DoneFn done)
    : SocketPipe(loop, std::move(done)) {
  attach(stream);
}

void SocketPipe::attach(link::StreamRef stream, ByteSpan early) {
  if (closing_ || close_when_written_) {
    // The client went away while the relay answered: nobody will carry the stream.
    stream.reset(frame::ResetCode::Cancel);
    return;
  }
  stream_ = stream;
  stream_.bind(this);
  if (!early.empty()) {
    stream_.send(early);
    counters_.to_link += early.size();
  }
}

void SocketPipe::start_handshake(HandshakeFn on_bytes) {
  if (closing_) return;
  handshake_ = std::move(on_bytes);
  if (!handshake_buf_) handshake_buf_.reset(new std::uint8_t[kHandshakeReadBytes]);
  read_side_ = ReadSide::Raw;
  if (uv_read_start(stream(), on_alloc_trampoline, on_read_trampoline) == 0) reading_ = true;
}

void SocketPipe::stop_handshake() {
  handshake_ = nullptr;  // the buffer stays until start(): the caller may still hold a span into it
  if (close_when_written_) return;
  if (reading_) uv_read_stop(stream());
  reading_ = false;
}

void SocketPipe::on_handshake_alloc_cb(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(h->data);
  buf->base = reinterpret_cast<char*>(self->handshake_buf_.get());
  buf->len = kHandshakeReadBytes;
}

void SocketPipe::on_handshake_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(s->data);
  if (nread == 0 || !self->handshake_) return;
  if (nread < 0) {
    uv_read_stop(s);
    self->reading_ = false;
    self->handshake_(ByteSpan{});  // the client went away or broke the connection
    return;
  }
  self->touch();
  // The callback may stop the handshake (freeing the buffer) or close the pipe: copy nothing, call last.
  self->handshake_(
      ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
}

void SocketPipe::write_raw(Bytes bytes, std::function<void()> written) {
  // A handshake reply fits the socket's buffer: written at once, it needs no request, no callback in
  // a later loop iteration and no epoll_ctl to watch for writability and another to stop.
  if (!written && !closing_ && writing_ == 0 && !bytes.empty()) {
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    const int n = uv_try_write(stream(), &buf, 1);
    if (n == static_cast<int>(bytes.size())) return;
    if (n > 0) bytes.erase(bytes.begin(), bytes.begin() + n);  // rare: the rest goes the queued way
  }
  write_bytes(std::move(bytes), false, std::move(written));
}

void SocketPipe::pause_handshake() {
  if (!reading_ || close_when_written_) return;
  uv_read_stop(stream());
  reading_ = false;
}

void SocketPipe::resume_handshake() {
  if (reading_ || closing_ || close_when_written_ || !handshake_ || read_done_) return;
  read_side_ = ReadSide::Raw;
  if (uv_read_start(stream(), on_alloc_trampoline, on_read_trampoline) == 0) reading_ = true;
}

void SocketPipe::mark_read_done() {
  read_done_ = true;
  maybe_done();
}

void SocketPipe::close_after_writes() {
  if (closing_ || close_when_written_) return;
  stream_.leave();
  close_when_written_ = true;
  discard_reads();
  maybe_linger();
}

// A lingering close (as HTTP servers do after an error reply): what the client still sends is read
// and dropped, from now until its EOF. Closing with unread bytes would make the kernel answer with
// RST, and the client could lose the reply it has not read yet.
void SocketPipe::discard_reads() {
  if (read_done_) return;  // the client's EOF came already: nothing more can arrive
  if (!handshake_buf_) handshake_buf_.reset(new std::uint8_t[kHandshakeReadBytes]);
  read_side_ = ReadSide::Discarding;  // while reading, the next read dispatches to the new side
  if (!reading_ && uv_read_start(stream(), on_alloc_trampoline, on_read_trampoline) == 0) reading_ = true;
}

void SocketPipe::on_discard_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t*) noexcept {
  if (nread >= 0) return;  // dropped
  auto* self = static_cast<SocketPipe*>(s->data);
  uv_read_stop(s);
  self->reading_ = false;
  self->read_done_ = true;
  // At its EOF the client has nothing more to say; it may still be reading what is queued for it,
  // so only a linger (every write out) ends here. A read error means the client is gone.
  if (nread != UV_EOF || self->lingering_) self->close_handles(false);
}

void SocketPipe::maybe_linger() {
  if (close_when_written_ && writing_ == 0 && gathered_bytes_ == 0) linger();
}

// Every write is out: shutdown(SHUT_WR), then wait for the client's EOF, at most kLingerMs. A write
// callback can ask for the close and then find nothing left to write itself: runs once.
void SocketPipe::linger() {
  if (closing_ || std::exchange(lingering_, true)) return;
  if (read_done_) return close_handles(false);  // the client's EOF came already: it is done
  uv_timer_start(
      idle_.get(), [](uv_timer_t* t) { static_cast<SocketPipe*>(t->data)->close_handles(false); }, kLingerMs,
      0);
  // The stream's FIN may have shut the socket down already (maybe_shutdown): a second uv_shutdown
  // would fail and close at once.
  if (write_side_ != WriteSide::Open) return;
  write_side_ = WriteSide::ShuttingDown;
  if (uv_shutdown(&shutdown_req_, stream(), [](uv_shutdown_t*, int) {}) != 0) close_handles(false);
}

SocketPipe::~SocketPipe() {
  if (!gathered_.empty()) read_batch::cancel(loop_, this);
}

void SocketPipe::start() {
  if (closing_ || close_when_written_ || started_ || !stream_.attached()) return;
  started_ = true;
  handshake_ = nullptr;
  if (reading_ && !read_done_) {
    // Still reading from the handshake: the trampolines dispatch on read_side_, so switching it is
    // enough, instead of uv_read_stop + uv_read_start, which costs libuv two epoll_ctl calls per
    // stream. The handshake buffer is not in use: a new read asks for a buffer again.
    read_side_ = ReadSide::Piping;
  } else {
    if (reading_) uv_read_stop(stream());
    reading_ = false;
    read_side_ = ReadSide::Piping;
    resume_reading();
  }
  handshake_buf_.reset();
}

void SocketPipe::set_idle_timeout(std::uint64_t ms) {
  idle_ms_ = ms;
  if (closing_ || lingering_) return;  // the linger timer runs now
  if (ms == 0)
    uv_timer_stop(idle_.get());
  else
    uv_timer_start(idle_.get(), on_idle_cb, ms, 0);
}

void SocketPipe::set_deadline(std::uint64_t ms) {
  idle_ms_ = 0;
  if (closing_ || lingering_) return;
  uv_timer_start(idle_.get(), on_deadline_cb, ms, 0);
}

void SocketPipe::on_deadline_cb(uv_timer_t* t) noexcept {
  static_cast<SocketPipe*>(t->data)->abort(frame::ResetCode::IdleTimeout);
}

void SocketPipe::on_idle_cb(uv_timer_t* t) noexcept {
  auto* self = static_cast<SocketPipe*>(t->data);
  const std::uint64_t idle_for = uv_now(self->loop_) - self->last_activity_;
  // A close that stalls with bytes still queued (a reader that stopped taking a finished stream's
  // bytes) is cut with RST: its client must not take the part it got for the whole.
  if (idle_for >= self->idle_ms_)
    return self->abort(frame::ResetCode::IdleTimeout, self->close_when_written_ && self->writing_ > 0);
  uv_timer_start(t, on_idle_cb, self->idle_ms_ - idle_for, 0);
}

void SocketPipe::resume_reading() {
  if (reading_ || read_done_ || closing_ || close_when_written_ || !started_) return;
  read_side_ = ReadSide::Piping;
  if (uv_read_start(stream(), on_alloc_trampoline, on_read_trampoline) == 0) reading_ = true;
}

namespace {
// Where a socket that sends small messages is read: its bytes are then copied into a chunk of their
// own size. One per loop; read_cb consumes it before anything else can read.
std::uint8_t* small_read_buffer(uv_loop_t* loop) {
  return context(loop).small_read_buffer(link::Chunk::kBytes);
}
}  // namespace

static_assert(link_activity::kTurnBytes <= link::Chunk::kBytes, "a turn fits the small-read buffer");

void SocketPipe::on_alloc_cb(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(h->data);
  // While another link of this thread is active (link_activity.hpp), one short buffer per event:
  // after a full one, an empty buffer ends libuv's read loop (UV_ENOBUFS, no syscall) instead of up
  // to 32 more reads, so a relay worker that pipes a download serves its other links' streams in
  // between. The socket comes back from the next poll. Alone, the loop reads on in whole chunks:
  // larger link batches, less CPU.
  self->read_into_small_ = false;
  if (self->read_turn_.end(buf)) return;
  link::Mux* mux = self->stream_.mux();
  if (!mux) return void(*buf = uv_buf_init(nullptr, 0));  // the stream is gone: on_read_cb aborts
  const std::size_t most = link_activity::crowded(self->loop_, mux, uv_now(self->loop_))
                               ? link_activity::kTurnBytes
                               : link::Chunk::kBytes;
  if (mux->budget_tight()) {
    // The agent's budget is nearly spent: a small read gets a chunk of its own size, so the streams
    // reading at once overshoot the budget by little (Mux::budget_allows_reading).
    buf->base = reinterpret_cast<char*>(small_read_buffer(self->loop_));
    buf->len = link::Chunk::kSmallMax;
    self->read_into_small_ = true;
    return;
  }
  if (self->small_reads_ && mux->queued(self->stream_.id()) == 0) {
    buf->base = reinterpret_cast<char*>(small_read_buffer(self->loop_));
    buf->len = most;
    self->read_into_small_ = true;
    return;
  }
  // Bulk: the kernel copies straight into the stream's send queue, no copy of ours on this path.
  const MutByteSpan space = mux->send_space(self->stream_.id());
  buf->base = reinterpret_cast<char*>(space.data());
  buf->len = std::min(space.size(), most);
}

void SocketPipe::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(s->data);
  link::Mux* mux = self->stream_.mux();
  if (!mux) return self->abort(frame::ResetCode::Cancel);
  if (self->read_turn_.ended(nread)) return;
  const link::StreamId id = self->stream_.id();
  const std::size_t n = nread > 0 ? static_cast<std::size_t>(nread) : 0;
  bool more = true;
  if (self->read_into_small_) {
    if (n > 0) more = mux->send(id, ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base), n));
  } else {
    more = mux->commit_send(id, n);  // commit(0) returns an unused chunk
  }
  if (n > 0) self->small_reads_ = n <= link::Chunk::kSmallMax;
  if (nread > 0) {
    self->counters_.to_link += n;
    self->touch();
    if (!more) {
      uv_read_stop(s);
      self->reading_ = false;
    } else if (n == buf->len && link_activity::crowded(self->loop_, mux, uv_now(self->loop_))) {
      self->read_turn_.full();
    }
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing this time
  uv_read_stop(s);
  self->reading_ = false;
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "stream " + std::to_string(self->stream_.id()) +
                           " socket read ended: " + uv_err_name(static_cast<int>(nread)));
  if (nread == UV_EOF && self->reset_by_peer()) {
    // Not an end but an abort: the stream is reset, so a download cut short never looks complete.
    if (log::enabled(log::Level::Debug))
      log::debug("pipe",
                 "stream " + std::to_string(self->stream_.id()) + " socket was reset (reported as EOF)");
    return self->abort(frame::ResetCode::TargetError);
  }
  if (nread == UV_EOF) {
    self->read_done_ = true;
    mux->finish(id);  // the half-close travels on as FIN
    self->limit_drain_if_ended();
    return self->maybe_done();
  }
  self->abort(frame::ResetCode::TargetError);  // ECONNRESET and friends (or ENOBUFS: stream gone)
}

// libuv reports a connection reset as EOF when the poll said HUP after a short read (it reads no
// further, so the error is never seen). The kernel still holds it: a pending ECONNRESET in SO_ERROR
// means the peer aborted. Once per stream, at its end.
bool SocketPipe::reset_by_peer() noexcept {
  uv_os_fd_t fd;
  if (uv_fileno(tcp_.handle(), &fd) != 0) return false;
  int error = 0;
  socklen_t len = sizeof error;
  // Only an abort: a soft error left by an ICMP message (EHOSTUNREACH, ...) followed by a clean FIN
  // is a complete stream.
  return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 &&
         (error == ECONNRESET || error == ETIMEDOUT || error == EPIPE);
}

void SocketPipe::on_writable() { resume_reading(); }

void SocketPipe::on_data(ByteSpan bytes) {
  if (closing_ || write_side_ == WriteSide::Done || bytes.empty()) return;
  touch();
  if (gathered_.empty()) read_batch::defer(loop_, this, flush_gathered);
  gathered_.push_back(uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                                  static_cast<unsigned>(bytes.size())));
  gathered_bytes_ += bytes.size();
}

void SocketPipe::flush_gathered(void* who) noexcept {
  auto* self = static_cast<SocketPipe*>(who);
  const std::size_t total = std::exchange(self->gathered_bytes_, 0);
  // Emptied on every way out. A small capacity stays (no allocation per batch); a large one goes.
  struct Clear {
    std::vector<uv_buf_t>& v;
    ~Clear() {
      v.clear();
      if (v.capacity() > kKeptGatherEntries) std::vector<uv_buf_t>().swap(v);
    }
  } clear{self->gathered_};
  const std::vector<uv_buf_t>& bufs = self->gathered_;
  if (self->closing_ || self->write_side_ == WriteSide::Done)
    return;  // the spans may be gone with the link: never read them
  auto* stream = self->tcp_.stream();
  // uv_try_write refuses (EAGAIN) while earlier writes are queued or the socket is still connecting,
  // which keeps the bytes in order.
  int written = uv_try_write(stream, bufs.data(), static_cast<unsigned>(bufs.size()));
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) return self->abort(frame::ResetCode::TargetError);
  std::size_t sent = static_cast<std::size_t>(written);
  if (sent > 0) {
    self->counters_.from_link += sent;
    self->stream_.consumed(sent, link::Instant(static_cast<std::int64_t>(uv_now(self->loop_))));
  }
  if (sent < total) {  // the kernel is full: one copy of the rest, queued behind nothing else of ours
    Bytes rest;
    rest.reserve(total - sent);
    for (const uv_buf_t& b : bufs) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(b.base);
      if (sent >= b.len) {
        sent -= b.len;
        continue;
      }
      rest.insert(rest.end(), p + sent, p + b.len);
      sent = 0;
    }
    self->write_bytes(std::move(rest), true);
  }
  if (self->close_when_written_) return self->maybe_linger();
  self->maybe_shutdown();
}

void SocketPipe::write_bytes(Bytes bytes, bool stream_data, std::function<void()> written) {
  if (closing_ || bytes.empty()) return;
  auto op = std::make_unique<WriteOp>();
  op->self = this;
  op->bytes = std::move(bytes);
  op->stream_data = stream_data;
  op->written = std::move(written);
  op->req.data = op.get();
  const uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(op->bytes.data()), static_cast<unsigned>(op->bytes.size()));
  if (uv_write(&op->req, stream(), &buf, 1, on_write_cb) != 0) return abort(frame::ResetCode::TargetError);
  writing_ += op->bytes.size();
  op.release();  // owned by req.data until on_write_cb
}

void SocketPipe::on_write_cb(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteOp> op{static_cast<WriteOp*>(req->data)};
  SocketPipe* self = op->self;
  self->writing_ -= op->bytes.size();
  if (status == UV_ECANCELED) return;  // closing
  if (status < 0) return self->abort(frame::ResetCode::TargetError);
  self->touch();  // bytes leaving count as activity: a long download is not idle
  if (op->written) op->written();
  if (op->stream_data) {
    self->counters_.from_link += op->bytes.size();
    // Credit goes back only once the bytes left this process: a slow socket stalls its stream only.
    self->stream_.consumed(op->bytes.size(), link::Instant(static_cast<std::int64_t>(uv_now(self->loop_))));
  }
  if (self->close_when_written_) return self->maybe_linger();
  self->maybe_shutdown();
}

void SocketPipe::on_fin() {
  fin_received_ = true;
  limit_drain_if_ended();
  maybe_shutdown();
}

// Both FINs have crossed, so the mux forgets the stream (and its link may go): a socket still taking
// its last bytes gets kDrainIdleMs to take them, unless it has a timeout of its own.
void SocketPipe::limit_drain_if_ended() {
  if (read_done_ && fin_received_ && idle_ms_ == 0 && !closing_) set_idle_timeout(kDrainIdleMs);
}

void SocketPipe::maybe_shutdown() {
  if (!fin_received_ || writing_ > 0 || gathered_bytes_ > 0 || write_side_ != WriteSide::Open || closing_)
    return;
  write_side_ = WriteSide::ShuttingDown;
  if (uv_shutdown(&shutdown_req_, stream(), on_shutdown_cb) != 0) {
    write_side_ = WriteSide::Done;
    maybe_done();
  }
}

void SocketPipe::on_shutdown_cb(uv_shutdown_t* req, int status) noexcept {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<SocketPipe*>(req->data);
  self->write_side_ = WriteSide::Done;
  self->maybe_done();
}

void SocketPipe::on_reset(frame::ResetCode) {
  stream_.drop();
  // A FIN before the reset (the link closed behind a finished download): every byte for the socket
  // is here, and a RST would throw away what still waits for a slow reader. A pipe that never
  // started and has nothing to write (the relay's dial failed) just closes.
  if (fin_received_ && !closing_ && (started_ || writing_ > 0 || gathered_bytes_ > 0)) {
    if (log::enabled(log::Level::Debug))
      log::debug("pipe",
                 "stream " + std::to_string(stream_.id()) + " gone after its FIN: finishing its writes");
    if (idle_ms_ == 0) set_idle_timeout(kDrainIdleMs);
    return close_after_writes();
  }
  aborted_ = true;
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "stream " + std::to_string(stream_.id()) + " reset by the link");
  close_handles(true);  // the other end aborted: abort this one too
}

void SocketPipe::abort(frame::ResetCode code, bool rst) {
  aborted_ = true;
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "stream " + std::to_string(stream_.id()) + " aborted (reset code " +
                           std::to_string(static_cast<int>(code)) + "; reading " + name(read_side_) +
                           ", writing " + name(write_side_) + ")");
  stream_.reset(code);
  close_handles(rst);
}

void SocketPipe::maybe_done() {
  if (read_done_ && write_side_ == WriteSide::Done) {
    stream_.leave();  // both FINs have crossed: the stream finishes in the mux on its own
    close_handles(false);
  }
}

void SocketPipe::close_handles(bool rst) {
  if (std::exchange(closing_, true)) return;
  stream_.leave();  // the stream's events must not reach a pipe that is going away
  handshake_ = nullptr;
  read_side_ = ReadSide::Done;
  uv_timer_stop(idle_.get());
  if (rst && started_)
    tcp_.close_reset();
  else
    tcp_.close();
  idle_.close();
  handles_.when_closed([this] {
    // From a copy: the owner may destroy this pipe, and the callback with it, from inside.
    if (auto done = std::move(done_)) done(*this);
  });
}

// The one pair of read callbacks libuv knows: what a read means depends on the side's state.
void SocketPipe::on_alloc_trampoline(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(h->data);
  switch (self->read_side_) {
    case ReadSide::Piping:
      return on_alloc_cb(h, suggested, buf);
    case ReadSide::Raw:
    case ReadSide::Discarding:
      return on_handshake_alloc_cb(h, suggested, buf);
    case ReadSide::Done:
      break;
  }
  *buf = uv_buf_init(nullptr, 0);  // UV_ENOBUFS: the read ends without a syscall
}

void SocketPipe::on_read_trampoline(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<SocketPipe*>(s->data);
  switch (self->read_side_) {
    case ReadSide::Piping:
      return on_read_cb(s, nread, buf);
    case ReadSide::Raw:
      return on_handshake_read_cb(s, nread, buf);
    case ReadSide::Discarding:
      return on_discard_read_cb(s, nread, buf);
    case ReadSide::Done:
      uv_read_stop(s);
      self->reading_ = false;
      return;
  }
}

const char* SocketPipe::name(WriteSide side) noexcept {
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

const char* SocketPipe::name(ReadSide side) noexcept {
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

}  // namespace ferry::uv
