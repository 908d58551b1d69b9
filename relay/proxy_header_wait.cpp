#include "relay/proxy_header_wait.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ferry::relay {

ProxyHeaderWait::ProxyHeaderWait(uv_loop_t* loop, int fd, DoneFn done, GoneFn gone)
    : fd_(fd), done_(std::move(done)), gone_(std::move(gone)) {
  init_error_ = poll_.init(uv_poll_init, loop, this, fd_);
  if (init_error_ == 0) init_error_ = timer_.init(uv_timer_init, loop, this);
}

ProxyHeaderWait::~ProxyHeaderWait() {
  if (fd_ >= 0) ::close(fd_);
}

void ProxyHeaderWait::start() {
  if (init_error_ != 0) return finish(Error{Errc::Io, "PROXY header: cannot watch the socket", init_error_});
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        static_cast<ProxyHeaderWait*>(t->data)->finish(Error{Errc::Timeout, "no PROXY header in time"});
      },
      kTimeoutMs, 0);
  const int r = uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<ProxyHeaderWait*>(p->data);
    if (status < 0) return self->finish(Error{Errc::Io, "PROXY header: socket error", status});
    self->on_readable();
  });
  if (r != 0) finish(Error{Errc::Io, "PROXY header: cannot watch the socket", r});
}

// Reads no further than the header can reach: 16 bytes first, then exactly the length they announce
// (and never past the signature if the first bytes are not one).
void ProxyHeaderWait::on_readable() {
  std::size_t want = proxy_v2::kFixedBytes;
  if (have_ >= proxy_v2::kFixedBytes) want += static_cast<std::size_t>(buf_[14] << 8 | buf_[15]);
  if (want > sizeof buf_) want = sizeof buf_;  // decode() refuses it below
  const ssize_t n = ::recv(fd_, buf_ + have_, want - have_, 0);
  if (n == 0) return finish(Error{Errc::Truncated, "the connection ended before its PROXY header"});
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return finish(Error{Errc::Io, "PROXY header: read failed", -errno});
  }
  have_ += static_cast<std::size_t>(n);
  auto d = proxy_v2::decode(ByteSpan(buf_, have_));
  if (!d) return finish(d.error());
  if (d->msg) return finish(*d->msg);
}

// The poll handle closes before the socket moves on: closing it takes the descriptor out of this
// loop's epoll set (libuv invalidates it), which must not happen once a link's handle watches it.
void ProxyHeaderWait::finish(Result<proxy_v2::Header> header) {
  if (std::exchange(finished_, true)) return;
  close_handles();
  int fd = std::exchange(fd_, -1);
  if (!header) {
    ::close(fd);
    fd = -1;
  }
  if (auto done = std::move(done_)) done(fd, std::move(header));
}

void ProxyHeaderWait::close() {
  finished_ = true;
  done_ = nullptr;
  close_handles();
}

void ProxyHeaderWait::close_handles() {
  if (closing_) return;
  closing_ = true;
  poll_.close();
  timer_.close();
  handles_.when_closed([this] {
    if (auto gone = std::move(gone_)) gone(*this);  // the owner destroys this wait here
  });
}

}  // namespace ferry::relay
