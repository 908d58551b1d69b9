#include "tests/unit/loopback_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <utility>

namespace ferry::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

LoopbackClient::LoopbackClient(int port, int rcvbuf) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket");
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect");
  }
}

LoopbackClient::~LoopbackClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool LoopbackClient::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void LoopbackClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool LoopbackClient::read_some(std::chrono::milliseconds timeout) {
  if (ended_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buf[64 * 1024];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0) {
    received_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  ended_ = true;
  end_ = n == 0 ? End::Eof : End::Reset;
  return false;
}

bool LoopbackClient::read_until(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (received_.find(needle) == std::string::npos) {
    if (remaining_ms(deadline) == 0 || !read_some(std::chrono::milliseconds(remaining_ms(deadline))))
      return received_.find(needle) != std::string::npos;
  }
  return true;
}

bool LoopbackClient::read_until(const std::function<bool(const std::string&)>& done,
                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done(received_)) {
    if (remaining_ms(deadline) == 0 || !read_some(std::chrono::milliseconds(remaining_ms(deadline))))
      return done(received_);
  }
  return true;
}

bool LoopbackClient::read_bytes(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (received_.size() < n) {
    if (remaining_ms(deadline) == 0 || !read_some(std::chrono::milliseconds(remaining_ms(deadline))))
      return received_.size() >= n;
  }
  return true;
}

LoopbackClient::End LoopbackClient::read_to_end(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!ended_ && remaining_ms(deadline) > 0) read_some(std::chrono::milliseconds(remaining_ms(deadline)));
  return ended_ ? end_ : End::Timeout;
}

bool LoopbackClient::closed_within(std::chrono::milliseconds timeout) {
  return read_to_end(timeout) != End::Timeout;
}

std::string LoopbackClient::take_received() { return std::exchange(received_, {}); }

}  // namespace ferry::test
