#include "common/uv/tcp_listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/uv/loop.hpp"

namespace ferry::uv {

Result<int> accept_socket(uv_stream_t* server) {
  // libuv accepts only into a handle of the server's loop, and a handle keeps its descriptor: take a
  // duplicate, then close the handle, which never joined the loop's epoll set (it never read).
  struct Staging {
    HandleGroup handles;
    Handle<uv_tcp_t> tcp{handles};
  };
  auto* staging = new Staging;  // freed once its handle has closed
  staging->tcp.init(uv_tcp_init, server->loop, nullptr);
  const auto done = [staging] {
    staging->tcp.close();
    staging->handles.when_closed([staging] { delete staging; });
  };
  if (int r = uv_accept(server, staging->tcp.stream()); r != 0) {
    done();
    return fail(Errc::Io, "accept", r);
  }
  uv_os_fd_t fd = -1;
  uv_fileno(staging->tcp.handle(), &fd);
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  const int e = errno;
  done();
  if (copy < 0) return fail(Errc::Io, "accept", -e);
  return copy;
}

TcpListener::TcpListener(uv_loop_t* loop, ConnectionFn on_connection)
    : on_connection_(std::move(on_connection)) {
  tcp_.init(uv_tcp_init, loop, this);
}

Result<void> TcpListener::listen(const sockaddr* addr, int backlog, bool reuse_port) {
#if defined(SO_REUSEPORT) && defined(__linux__)
  // Linux only: elsewhere (macOS) SO_REUSEPORT does not spread connections over the listeners.
  if (reuse_port) {
    const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail(Errc::Io, "socket", -errno);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    const socklen_t len = addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (::bind(fd, addr, len) != 0) {
      const int e = errno;
      ::close(fd);
      return fail(Errc::Io, "bind", -e);
    }
    if (int r = uv_tcp_open(tcp_.get(), fd); r != 0) {
      ::close(fd);
      return fail(Errc::Io, "bind", r);
    }
    if (int r = uv_listen(stream(), backlog, on_connection_cb); r != 0) return fail(Errc::Io, "listen", r);
    return {};
  }
#else
  (void)reuse_port;
#endif
  if (int r = uv_tcp_bind(tcp_.get(), addr, 0); r != 0) return fail(Errc::Io, "bind", r);
  if (int r = uv_listen(stream(), backlog, on_connection_cb); r != 0) return fail(Errc::Io, "listen", r);
  return {};
}

std::string TcpListener::local_address() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return format_socket_address(reinterpret_cast<sockaddr*>(&ss));
}

int TcpListener::local_port() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void TcpListener::on_connection_cb(uv_stream_t* s, int status) noexcept {
  auto* self = static_cast<TcpListener*>(s->data);
  if (status < 0 || self->closing_) return;  // EMFILE and friends: the owner's accept sheds it
  self->on_connection_(s);
}

void TcpListener::close(std::function<void()> done) {
  if (std::exchange(closing_, true)) return;
  tcp_.close();
  handles_.when_closed(std::move(done));
}

}  // namespace ferry::uv
