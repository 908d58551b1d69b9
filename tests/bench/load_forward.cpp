// The plain forwarder pair (see load_forward.hpp). Its data path is what ferry's would be without
// the link: one epoll loop per side, 64 KiB reads as ferry's agent and relay make them, a write of
// each read, no splice and no crypto. Only the setup of a connection (SOCKS5, the request to the
// office side, the office side's dial) runs in a short thread of its own, with blocking calls: it
// is not what scenario a measures, and it keeps this file short.
//
// Between the two sides, once per connection: the laptop side sends "HOST:PORT\n", the office side
// answers one byte, 'K' (connected) or 'E', and from then on both pipe bytes.
#include "tests/bench/load_forward.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/time.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "tests/bench/load_common.hpp"
#include "tests/bench/load_net.hpp"

namespace ferry::bench {
namespace {

constexpr std::size_t kReadBytes = 64 << 10;
// Reads and writes per side per wakeup, so that one bulk transfer cannot starve the others.
constexpr int kTurnsPerWakeup = 16;
constexpr int kSetupTimeoutS = 10;

struct Pair;

// One socket of a pair, and the bytes read from it that still go to the other.
struct Side {
  Pair* pair = nullptr;
  int fd = -1;
  std::vector<std::uint8_t> in = std::vector<std::uint8_t>(kReadBytes);
  std::size_t begin = 0, end = 0;  // unwritten bytes of `in`
  bool eof = false;                // nothing more to read; the other side's write half is shut
  std::uint32_t events = 0;
};

struct Pair {
  Side a, b;
  bool dead = false;
  Side& other(Side& s) { return &s == &a ? b : a; }
};

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

class Loop {
 public:
  Loop() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

  // Called from setup threads: the pair belongs to the loop from here on.
  void adopt(int a, int b) {
    auto* p = new Pair;
    p->a.pair = p->b.pair = p;
    p->a.fd = a;
    p->b.fd = b;
    for (Side* s : {&p->a, &p->b}) {
      set_nonblocking(s->fd);
      s->events = EPOLLIN;
      epoll_event ev{};
      ev.events = s->events;
      ev.data.ptr = s;
      epoll_ctl(ep_, EPOLL_CTL_ADD, s->fd, &ev);
    }
  }

  void run() {
    epoll_event events[256];
    std::vector<Pair*> finished;
    for (;;) {
      const int n = epoll_wait(ep_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        Side& s = *static_cast<Side*>(events[i].data.ptr);
        Pair& p = *s.pair;
        if (p.dead) continue;
        Side& o = p.other(s);
        bool ok = true;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = pump(s, o);
        if (ok && (events[i].events & EPOLLOUT)) ok = pump(o, s);
        if (ok && s.eof && o.eof && s.begin == s.end && o.begin == o.end) ok = false;
        if (!ok) {
          p.dead = true;
          finished.push_back(&p);
          continue;
        }
        update(s);
        update(o);
      }
      // Deleted after the batch: a later event of the same batch may name the other side.
      for (Pair* p : finished) {
        ::close(p->a.fd);
        ::close(p->b.fd);
        delete p;
      }
      finished.clear();
    }
  }

 private:
  static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

  // Moves bytes from `src` to `dst`: writes what waits, then reads more while the write keeps up.
  // Returns false when the pair is done for (an error on either socket).
  static bool pump(Side& src, Side& dst) {
    for (int turn = 0; turn < kTurnsPerWakeup; ++turn) {
      if (src.begin < src.end) {
        const ssize_t w = ::send(dst.fd, src.in.data() + src.begin, src.end - src.begin, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN || errno == EINTR;
        src.begin += static_cast<std::size_t>(w);
        if (src.begin < src.end) return true;  // the rest when `dst` is writable
        src.begin = src.end = 0;
      }
      if (src.eof) return true;
      const ssize_t r = ::read(src.fd, src.in.data(), src.in.size());
      if (r == 0) {
        src.eof = true;
        ::shutdown(dst.fd, SHUT_WR);  // a half-close passes through
        return true;
      }
      if (r < 0) return errno == EAGAIN || errno == EINTR;
      src.end = static_cast<std::size_t>(r);
    }
    return true;
  }

  // A side reads while its bytes have all been written on, and waits to write while the other
  // side's bytes have not.
  void update(Side& s) {
    Side& o = s.pair->other(s);
    std::uint32_t want = 0;
    if (!s.eof && s.begin == s.end) want |= EPOLLIN;
    if (o.begin < o.end) want |= EPOLLOUT;
    if (want == s.events) return;
    s.events = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &s;
    epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  int ep_;
};

// A blocking TCP connection with TCP_NODELAY, or -1.
int connect_to(const sockaddr* addr, socklen_t len) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, kSetupTimeoutS);
  if (::connect(fd, addr, len) != 0) {
    ::close(fd);
    return -1;
  }
  set_nodelay(fd);
  return fd;
}

// The laptop side: SOCKS5 (no authentication, CONNECT), then the request to the office side.
void laptop_setup(Loop& loop, Fd client, sockaddr_in office) {
  const int fd = client.get();
  std::uint8_t b[262];
  if (!recv_exact(fd, b, 2).empty() || b[0] != 5 || !recv_exact(fd, b + 2, b[1]).empty()) return;
  const std::uint8_t method[] = {5, 0};
  if (!send_all(fd, method, 2).empty() || !recv_exact(fd, b, 4).empty() || b[0] != 5 || b[1] != 1) return;
  std::string host;
  if (b[3] == 1) {
    if (!recv_exact(fd, b, 4).empty()) return;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, b, ip, sizeof ip);
    host = ip;
  } else if (b[3] == 3) {
    if (!recv_exact(fd, b, 1).empty()) return;
    const std::size_t len = b[0];
    if (!recv_exact(fd, b, len).empty()) return;
    host.assign(reinterpret_cast<const char*>(b), len);
  } else {
    const std::uint8_t unsupported[] = {5, 8, 0, 1, 0, 0, 0, 0, 0, 0};
    send_all(fd, unsupported, sizeof unsupported);
    return;
  }
  if (!recv_exact(fd, b, 2).empty()) return;
  const std::string request = host + ":" + std::to_string(get_be(b, 2)) + "\n";

  Fd up(connect_to(reinterpret_cast<const sockaddr*>(&office), sizeof office));
  char verdict = 'E';
  if (!up || !send_all(up.get(), request.data(), request.size()).empty() ||
      !recv_exact(up.get(), &verdict, 1).empty())
    verdict = 'E';
  std::uint8_t reply[] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  if (verdict != 'K') reply[1] = 5;  // connection refused
  if (!send_all(fd, reply, sizeof reply).empty() || verdict != 'K') return;
  loop.adopt(client.release(), up.release());
}

// The office side: reads "HOST:PORT\n", resolves and dials it, answers 'K' or 'E'.
void office_setup(Loop& loop, Fd laptop) {
  const int fd = laptop.get();
  std::string line;
  for (char c = 0; line.size() < 300;) {
    if (!recv_exact(fd, &c, 1).empty()) return;
    if (c == '\n') break;
    line += c;
  }
  const auto colon = line.rfind(':');
  if (colon == std::string::npos) return;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  Fd target;
  if (getaddrinfo(line.substr(0, colon).c_str(), line.substr(colon + 1).c_str(), &hints, &found) == 0) {
    for (addrinfo* ai = found; ai && !target; ai = ai->ai_next)
      target = Fd(connect_to(ai->ai_addr, ai->ai_addrlen));
    freeaddrinfo(found);
  }
  const char verdict = target ? 'K' : 'E';
  if (!send_all(fd, &verdict, 1).empty() || !target) return;
  loop.adopt(laptop.release(), target.release());
}

}  // namespace

int run_forward(const std::string& listen, const std::string& office) {
  const auto addr = parse_endpoint(listen);
  const auto office_addr = office.empty() ? std::optional<sockaddr_in>{} : parse_endpoint(office);
  if (!addr || (!office.empty() && !office_addr)) {
    std::fprintf(stderr, "bench_load forward: --listen IPv4:PORT [--office IPv4:PORT]\n");
    return 2;
  }
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind(lfd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 ||
      ::listen(lfd, 4096) != 0) {
    std::fprintf(stderr, "bench_load forward: cannot listen on %s: %s\n", listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&bound), &len);
  std::printf("forward listening on %s\n", format_endpoint(bound).c_str());
  std::fflush(stdout);

  Loop loop;
  std::thread([&loop] { loop.run(); }).detach();
  for (;;) {
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("bench_load forward: accept");
      return 1;
    }
    set_nodelay(fd);
    set_timeouts(fd, kSetupTimeoutS);
    Fd conn(fd);
    if (office_addr)
      std::thread(laptop_setup, std::ref(loop), std::move(conn), *office_addr).detach();
    else
      std::thread(office_setup, std::ref(loop), std::move(conn)).detach();
  }
}

}  // namespace ferry::bench
