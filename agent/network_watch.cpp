#include "agent/network_watch.hpp"

#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

#include <array>
#include <cerrno>
#include <ctime>

#include "common/codec/netlink_route.hpp"
#include "common/log.hpp"

namespace ferry::agent {
namespace {

std::int64_t clock_ms(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// A clock that stops while the system sleeps, and one that does not.
#ifdef __APPLE__
constexpr clockid_t kAwakeClock = CLOCK_UPTIME_RAW, kWallClock = CLOCK_MONOTONIC;
#else
constexpr clockid_t kAwakeClock = CLOCK_MONOTONIC, kWallClock = CLOCK_BOOTTIME;
#endif

}  // namespace

NetworkWatch::NetworkWatch(uv_loop_t* loop, ChangeFn on_change)
    : loop_(loop), on_change_(std::move(on_change)) {
  wake_timer_.init(uv_timer_init, loop_, this);
  settle_.init(uv_timer_init, loop_, this);
}

NetworkWatch::~NetworkWatch() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> NetworkWatch::start() {
  (void)wake_.observe(clock_ms(kAwakeClock), clock_ms(kWallClock));
  uv_timer_start(
      wake_timer_.get(), [](uv_timer_t* t) { static_cast<NetworkWatch*>(t->data)->tick(); },
      WakeDetector::kTickMs, WakeDetector::kTickMs);
  // An idle laptop should not wake for this timer alone: it keeps no loop alive by itself.
  uv_unref(wake_timer_.handle());
#ifndef __linux__
  return fail(Errc::Unsupported, "no rtnetlink on this system");
#else
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return fail(Errc::Io, "netlink socket", -errno);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    return fail(Errc::Io, "netlink bind", -e);
  }
  if (int r = poll_.init(uv_poll_init, loop_, this, fd_); r != 0) return fail(Errc::Io, "netlink poll", r);
  uv_poll_start(poll_.get(), UV_READABLE, on_readable);
  uv_unref(poll_.handle());
  return {};
#endif
}

void NetworkWatch::stop(std::function<void()> done) {
  poll_.close();
  wake_timer_.close();
  settle_.close();
  handles_.when_closed(std::move(done));
}

void NetworkWatch::on_readable(uv_poll_t* p, int status, int) noexcept {
  auto* self = static_cast<NetworkWatch*>(p->data);
  if (status < 0) return;
  self->read_datagrams();
}

void NetworkWatch::read_datagrams() {
  std::array<std::uint8_t, 16 * 1024> buf;
  // Bounded: a storm of route changes is read in one turn of at most this many datagrams.
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && errno == ENOBUFS) {
      note("the kernel dropped routing messages (a burst of changes)");
      continue;
    }
    if (n <= 0) return;
    auto events = netlink::decode_route_events(ByteSpan(buf.data(), static_cast<std::size_t>(n)));
    if (!events) {
      log::debug("agent", std::string("a routing message was malformed: ") + events.error().what);
      continue;
    }
    for (const auto& e : *events) note(netlink::describe(e));
  }
}

void NetworkWatch::note(const std::string& why) {
  if (!pending_.empty()) return;  // the burst is being settled
  pending_ = why;
  uv_timer_start(
      settle_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<NetworkWatch*>(t->data);
        self->on_change_(std::exchange(self->pending_, {}));
      },
      kSettleMs, 0);
}

void NetworkWatch::tick() {
  if (auto why = wake_.observe(clock_ms(kAwakeClock), clock_ms(kWallClock))) on_change_(*why);
}

}  // namespace ferry::agent
