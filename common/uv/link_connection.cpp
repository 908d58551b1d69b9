#include "common/uv/link_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"
#include "common/uv/congestion_control.hpp"
#include "common/uv/heap_trim.hpp"
#include "common/uv/link_activity.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/loop_context.hpp"
#include "common/uv/read_batch.hpp"
#include "common/uv/tcp_path.hpp"
#include "common/uv/unsent_budget.hpp"

namespace ferry::uv {

LinkConnection::LinkConnection(uv_loop_t* loop, link::LinkConfig config, link::LinkEvents& events,
                               GoneFn on_gone)
    : loop_(loop),
      on_gone_(std::move(on_gone)),
      session_(
          [&] {
            config.wake = [this] { wake(); };
            config.on_end = [this] { on_session_end(); };
            return std::move(config);
          }(),
          events) {
  tcp_.init(uv_tcp_init, loop_, this);
  timer_.init(uv_timer_init, loop_, this);
  prepare_.init(uv_prepare_init, loop_, this);
}

LinkConnection::~LinkConnection() { link_activity::forget(loop_, &session_.mux()); }

link::Instant LinkConnection::now() const noexcept {
  return link::Instant(static_cast<std::int64_t>(uv_now(loop_)));
}

Result<void> LinkConnection::connect(const sockaddr* addr) {
  connect_req_.data = this;
  if (int r = uv_tcp_connect(&connect_req_, tcp_.get(), addr, on_connect_cb); r != 0)
    return fail(Errc::Io, "connect to the relay", r);
  // The kernel alone would retry SYNs for about two minutes (a laptop between networks): the connect
  // gets the handshake's time instead: one shot of the link timer, which begin() turns into its tick.
  connecting_ = true;
  connect_started_ = now();
  uv_timer_start(timer_.get(), on_tick_cb, static_cast<std::uint64_t>(session_.handshake_timeout().count()),
                 0);
  return {};
}

Result<void> LinkConnection::accept(uv_stream_t* server) {
  if (int r = uv_accept(server, tcp_.stream()); r != 0) return fail(Errc::Io, "accept", r);
  begin_responder();
  return {};
}

Result<void> LinkConnection::adopt(int fd) {
  if (int r = uv_tcp_open(tcp_.get(), fd); r != 0) return fail(Errc::Io, "accept", r);
  begin_responder();
  return {};
}

void LinkConnection::begin_responder() {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    peer_address_ = format_socket_address(reinterpret_cast<sockaddr*>(&ss));
  begin(now());
}

void LinkConnection::on_connect_cb(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<LinkConnection*>(req->data);
  if (status == UV_ECANCELED) return;  // closed while connecting (abort, or the connect timed out)
  self->connecting_ = false;
  if (status != 0) {
    self->session_.abort(fail(Errc::Io, "connect to the relay", status));
    return;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(self->tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    self->peer_address_ = format_socket_address(reinterpret_cast<sockaddr*>(&ss));
  self->begin(self->now());
}

void LinkConnection::begin(link::Instant t) {
  uv_tcp_nodelay(tcp_.get(), 1);  // records are whole messages; Nagle would only add latency
  uv_os_fd_t fd;
  if (uv_fileno(tcp_.handle(), &fd) == 0) fd_ = fd;
  if (fd_ >= 0) {
    set_unsent_limit(fd_, unsent_budget_);
    const std::string cc = choose_link_congestion_control(fd_);
    if (!cc.empty()) log::debug("link", "congestion control " + cc);
  }
  uv_timer_start(timer_.get(), on_tick_cb, kTickMs, kTickMs);
  if (uv_read_start(tcp_.stream(), on_alloc_cb, on_read_cb) == 0) reading_ = true;
  session_.start(t);
}

void LinkConnection::on_alloc_cb(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<LinkConnection*>(h->data);
  // One buffer per event: after a full one, an empty buffer ends libuv's read loop (UV_ENOBUFS, no
  // syscall) instead of up to 32 more reads, and the socket, still readable, comes back from the
  // next poll. While another link of this thread is active the buffer is small, so that link's
  // streams (a keystroke behind a download) wait for a short turn only (link_activity.hpp).
  if (self->read_turn_.end(buf)) return;
  // Safe to share: libuv calls read_cb right after alloc_cb on this thread, and the session copies
  // a partial record out before read_cb returns.
  buf->base = reinterpret_cast<char*>(context(self->loop_).link_read_buffer(kReadBytes));
  buf->len = link_activity::crowded(self->loop_, &self->session_.mux(), uv_now(self->loop_))
                 ? link_activity::kTurnBytes
                 : kReadBytes;
}

void LinkConnection::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<LinkConnection*>(s->data);
  if (self->read_turn_.ended(nread)) return;
  if (nread > 0) {
    if (self->first_bytes_len_ < self->first_bytes_.size()) {  // before receive() decrypts in place
      const std::size_t n =
          std::min(self->first_bytes_.size() - self->first_bytes_len_, static_cast<std::size_t>(nread));
      std::memcpy(self->first_bytes_.data() + self->first_bytes_len_, buf->base, n);
      self->first_bytes_len_ += n;
    }
    self->session_.receive(
        MutByteSpan(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)),
        self->now());
    read_batch::run(self->loop_);  // streams write what this read delivered, before the buffer is reused
    self->note_activity(static_cast<std::size_t>(nread));
    if (static_cast<std::size_t>(nread) == buf->len) self->read_turn_.full();  // more waits
  } else if (nread < 0) {
    uv_read_stop(s);
    self->reading_ = false;
    self->eof_seen_ = true;
    self->session_.eof();                             // UV_EOF or a reset: either way the byte stream is over
    if (self->shutdown_done_) self->close_handles();  // else finish_close() sees eof_seen_
  }
}

// Called after `moved` bytes were read or produced, and with 0 at the end of each flush. A link
// without streams does not count, for its keepalives or after its last stream ended: a finished
// exchange stops crowding the thread's other links at once, not a window later. (A link with idle
// streams counts for a second after a keepalive or a WINDOW frame: a short turn now and then.) A
// heavy link with one stream (a download) does not count either: downloads need no turns from each
// other. One with more streams may carry a keystroke beside its download, and counts.
void LinkConnection::note_activity(std::size_t moved) {
  const std::uint64_t now_ms = uv_now(loop_);
  if (moved > 0) moved_.add(moved, now_ms);
  const std::size_t streams = session_.mux().stream_count();
  if (handles_closing_ || streams == 0)
    link_activity::forget(loop_, &session_.mux());
  else if (moved > 0)
    link_activity::note(loop_, &session_.mux(), now_ms, streams == 1 && moved_.heavy(now_ms));
}

void LinkConnection::wake() {
  if (handles_closing_) return;
  uv_prepare_start(prepare_.get(), on_prepare_cb);  // flush once this loop iteration's events are in
}

void LinkConnection::on_prepare_cb(uv_prepare_t* p) noexcept {
  auto* self = static_cast<LinkConnection*>(p->data);
  uv_prepare_stop(p);
  self->flush();
}

void LinkConnection::retune_unsent_budget() {
  const std::uint64_t now_ms = uv_now(loop_);
  if (fd_ < 0 || now_ms - tuned_at_ms_ < kRetuneMs) return;
  tuned_at_ms_ = now_ms;
  const auto path = tcp_path(fd_);
  if (!path) return;
  if (path->min_rtt.count() > 0) session_.mux().set_path_min_rtt(path->min_rtt);
  const std::size_t budget = unsent_budget(path->pacing_rate);
  // Small drifts are not worth a syscall; a change of an eighth is.
  const std::size_t diff = budget > unsent_budget_ ? budget - unsent_budget_ : unsent_budget_ - budget;
  if (diff * 8 < unsent_budget_) return;
  unsent_budget_ = budget;
  set_unsent_limit(fd_, budget);
}

void LinkConnection::flush() {
  if (handles_closing_) return;
  auto* stream = tcp_.stream();
  if (session_.has_output()) retune_unsent_budget();
  // Produce only while the kernel has taken everything written so far. uv_try_write keeps the common
  // case synchronous, so one warm buffer is reused batch after batch; only a remainder the kernel
  // refused becomes a queued write.
  while (session_.has_output() && uv_stream_get_write_queue_size(stream) == 0) {
    trimmed_ = false;
    last_output_ = now();
    if (scratch_.capacity() == 0 && !spare_.empty()) {
      scratch_.swap(spare_.back());
      spare_.pop_back();
    }
    scratch_.clear();
    session_.produce(scratch_, std::min(batch_, unsent_budget_));
    if (scratch_.empty()) break;
    note_activity(scratch_.size());
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(scratch_.data()), static_cast<unsigned>(scratch_.size()));
    int written = uv_try_write(stream, &buf, 1);
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) {
      session_.abort(fail(Errc::Io, "write to the link", written));
      break;
    }
    if (static_cast<std::size_t>(written) == scratch_.size()) {
      batch_ = kLargeBatch;
      continue;
    }
    auto op = std::make_unique<WriteOp>();
    op->self = this;
    op->bytes.swap(scratch_);
    buf = uv_buf_init(reinterpret_cast<char*>(op->bytes.data()) + written,
                      static_cast<unsigned>(op->bytes.size() - static_cast<std::size_t>(written)));
    op->queued = buf.len;
    op->req.data = op.get();
    if (int r = uv_write(&op->req, stream, &buf, 1, on_write_cb); r != 0) {
      session_.abort(fail(Errc::Io, "write to the link", r));
      break;
    }
    writing_bytes_ += op->queued;
    op.release();          // owned by req.data until on_write_cb
    batch_ = kSmallBatch;  // the kernel pushed back: keep what waits here small
  }
  note_activity(0);
  if (closing_ && writing_bytes_ == 0 && !session_.has_output()) finish_close();
}

void LinkConnection::finish_close() {
  if (handles_closing_ || shutdown_started_) return;
  shutdown_started_ = true;
  // Half-close instead of close(): with unread bytes in the socket, close() would send RST and the
  // kernel could drop our CLOSE record. After shutdown, we read (and ignore) until the peer's EOF.
  shutdown_req_.data = this;
  if (eof_seen_ || uv_shutdown(&shutdown_req_, tcp_.stream(), on_shutdown_cb) != 0) {
    close_handles();
  }
}

void LinkConnection::on_shutdown_cb(uv_shutdown_t* req, int status) noexcept {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<LinkConnection*>(req->data);
  self->shutdown_done_ = true;
  if (self->eof_seen_ || status < 0) self->close_handles();
}

void LinkConnection::trim_if_idle(link::Instant t) {
  if (trimmed_ || session_.has_output() || writing_bytes_ > 0 || (t - last_output_).count() < kIdleTrimMs)
    return;
  trimmed_ = true;
  Bytes().swap(scratch_);
  spare_.clear();
  session_.trim();
  session_.mux().trim();
  trim_heap();
}

void LinkConnection::on_write_cb(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteOp> op{static_cast<WriteOp*>(req->data)};
  LinkConnection* self = op->self;
  self->writing_bytes_ -= op->queued;
  if (status == UV_ECANCELED) return;
  if (self->spare_.size() < kSpareBuffers) self->spare_.push_back(std::move(op->bytes));
  if (status < 0) {
    self->session_.abort(fail(Errc::Io, "write to the link", status));
    if (self->closing_ && self->writing_bytes_ == 0) self->close_handles();
    return;
  }
  self->flush();
}

void LinkConnection::on_tick_cb(uv_timer_t* t) noexcept {
  auto* self = static_cast<LinkConnection*>(t->data);
  if (self->closing_) {
    if ((self->now() - self->close_started_).count() >= kCloseFlushMs) self->close_handles();
    return;
  }
  if (self->connecting_) {
    if (self->now() - self->connect_started_ < self->session_.handshake_timeout()) return;
    self->session_.abort(fail(Errc::Timeout, "connect to the relay timed out"));
    self->close_handles();  // nothing was sent; uv_close cancels the connect (UV_ECANCELED)
    return;
  }
  self->session_.tick(self->now());
  self->trim_if_idle(self->now());
}

void LinkConnection::on_session_end() {
  closing_ = true;
  close_started_ = now();
  // Reading goes on: the session ignores what arrives, and the peer's EOF ends the close.
  wake();  // flush the CLOSE record, then finish_close()
}

void LinkConnection::receive_first(Bytes& bytes) { session_.receive(MutByteSpan(bytes), now()); }

int LinkConnection::release_socket() {
  const int fd = fd_ >= 0 && !handles_closing_ ? ::dup(fd_) : -1;
  abort();
  return fd;
}

void LinkConnection::probe() {
  if (closing_ || connecting_) return;
  session_.probe(now());
  wake();
}

void LinkConnection::abort() {
  closing_ = true;
  close_handles();
}

void LinkConnection::close_handles() {
  if (std::exchange(handles_closing_, true)) return;
  link_activity::forget(loop_, &session_.mux());
  session_.eof();  // no-op when the session already ended
  tcp_.close();
  timer_.close();
  prepare_.close();
  handles_.when_closed([this] {
    // From a copy: the owner may destroy this connection, and the callback with it, from inside.
    if (auto gone = std::move(on_gone_)) gone(*this);
  });
}

bool LinkConnection::unread_bytes_waiting() const noexcept {
  int n = 0;
  return fd_ >= 0 && !closing_ && ::ioctl(fd_, FIONREAD, &n) == 0 && n > 0;
}

}  // namespace ferry::uv
