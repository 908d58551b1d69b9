#include "tests/bench/load_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "tests/bench/load_common.hpp"
#include "tests/bench/load_net.hpp"

namespace ferry::bench {
namespace {

// Echoed bytes the client has not read yet; past this the server stops reading that connection.
constexpr std::size_t kMaxPendingBytes = 1 << 20;
// Reads or writes per connection per wakeup, so one bulk transfer cannot starve a ping on the same
// thread (libuv's stream.c reads at most 32 times for the same reason).
constexpr int kTurnsPerWakeup = 8;

class PatternCache {
 public:
  std::shared_ptr<const Pattern> get(std::uint64_t seed) {
    std::lock_guard lock(mu_);
    auto& p = patterns_[seed];
    if (!p) p = std::make_shared<const Pattern>(seed);
    if (patterns_.size() > 16) {  // a run uses a handful of seeds; keep the newest only
      auto keep = p;
      patterns_.clear();
      patterns_[seed] = keep;
      return keep;
    }
    return p;
  }

 private:
  std::mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<const Pattern>> patterns_;
};

enum class Stage { Header, Request, HttpHead, Download, Upload, Echo, Reply, Drain };

struct Conn {
  int fd = -1;
  bool listening = false;  // one of the server's listening sockets, shared by every worker
  Stage stage = Stage::Header;
  std::uint8_t header[kHeaderBytes]{};
  std::size_t header_len = 0;
  std::uint64_t left = 0;
  std::uint64_t offset = 0;
  std::shared_ptr<const Pattern> pattern;
  bool intact = true;
  std::string out;  // echo, reply or verdict bytes not yet written
  std::size_t out_pos = 0;
  std::uint32_t events = 0;
};

// One epoll loop. Every handler returns false when it closed the connection (which is then gone).
class Worker {
 public:
  Worker(const std::vector<std::unique_ptr<Conn>>& listeners, PatternCache& cache)
      : listeners_(listeners), cache_(cache), buf_(kChunkBytes) {}
  Worker(const Worker&) = delete;

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (const auto& l : listeners_) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one sleeping worker wakes per new connection
      ev.data.ptr = l.get();
      if (ep_ < 0 || epoll_ctl(ep_, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
        std::perror("bench_load serve: epoll");
        return;
      }
    }
    epoll_event events[256];
    for (;;) {
      const int n = epoll_wait(ep_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(events[i].data.ptr);
        if (c.listening) {
          on_accept(c.fd);
          continue;
        }
        bool alive = true;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) alive = on_readable(c);
        if (alive && (events[i].events & EPOLLOUT)) alive = on_writable(c);
        if (alive) update(c);
      }
    }
  }

 private:
  void on_accept(int listen_fd) {
    for (int i = 0; i < 64; ++i) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) std::perror("bench_load serve: accept");
        return;
      }
      set_nodelay(fd);
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->events = EPOLLIN;
      epoll_event ev{};
      ev.events = c->events;
      ev.data.ptr = c.get();
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      Conn* key = c.get();
      conns_.emplace(key, std::move(c));
    }
  }

  bool close(Conn& c) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    conns_.erase(&c);
    return false;
  }

  bool on_readable(Conn& c) {
    for (int turn = 0; turn < kTurnsPerWakeup; ++turn) {
      if (c.stage == Stage::Reply) return true;
      if (c.stage == Stage::Echo && c.out.size() - c.out_pos > kMaxPendingBytes) return true;
      std::uint8_t* into = buf_.data();
      std::size_t want = buf_.size();
      if (c.stage == Stage::Header) {
        into = c.header + c.header_len;
        want = kHeaderBytes - c.header_len;
      } else if (c.stage == Stage::Upload || c.stage == Stage::Request) {
        want = static_cast<std::size_t>(std::min<std::uint64_t>(want, c.left));
      }
      const ssize_t n = ::read(c.fd, into, want);
      if (n == 0) return close(c);  // the client is done (or gave up early): so is the server
      if (n < 0) return errno == EAGAIN || errno == EINTR ? true : close(c);
      const auto got = static_cast<std::size_t>(n);
      switch (c.stage) {
        case Stage::Header:
          c.header_len += got;
          if (c.header_len >= 4 && std::memcmp(c.header, "FBL1", 4) != 0) {
            // Not the binary header: an HTTP request, or nothing this server speaks.
            if (!starts_like_http(c.header, c.header_len)) return close(c);
            c.stage = Stage::HttpHead;
            c.out.assign(reinterpret_cast<const char*>(c.header), c.header_len);
            if (!on_http_head(c)) return false;
            break;
          }
          if (c.header_len == kHeaderBytes && !start(c)) return false;
          break;
        case Stage::Request:
          if (std::memcmp(buf_.data(), c.pattern->at(c.offset), got) != 0) return close(c);
          c.offset += got;
          c.left -= got;
          if (c.left == 0 && !reply100(c)) return false;
          break;
        case Stage::HttpHead:
          c.out.append(reinterpret_cast<const char*>(buf_.data()), got);
          if (!on_http_head(c)) return false;
          break;
        case Stage::Upload:
          if (std::memcmp(buf_.data(), c.pattern->at(c.offset), got) != 0) c.intact = false;
          c.offset += got;
          c.left -= got;
          if (c.left == 0) {
            c.out = c.intact ? "K" : "B";
            c.stage = Stage::Drain;
            if (!flush(c)) return false;
          }
          break;
        case Stage::Echo:
          c.out.append(reinterpret_cast<const char*>(buf_.data()), got);
          if (!flush(c)) return false;
          break;
        default:  // download or drain: whatever the client sends is discarded
          break;
      }
    }
    return true;
  }

  // The header is complete: pick the request's stage.
  bool start(Conn& c) {
    const auto h = decode_header(c.header);
    if (!h) return close(c);
    switch (h->op) {
      case Op::Download:
        c.pattern = cache_.get(h->seed);
        c.left = h->arg;
        c.stage = c.left ? Stage::Download : Stage::Drain;
        return true;
      case Op::Upload:
        c.pattern = cache_.get(h->seed);
        c.left = h->arg;
        c.stage = Stage::Upload;
        if (c.left) return true;
        c.out = "K";
        c.stage = Stage::Drain;
        return flush(c);
      case Op::Echo:
        c.stage = Stage::Echo;
        return true;
      case Op::Reply100:
        c.pattern = cache_.get(h->seed);
        return reply100(c);
      case Op::Request:
        c.pattern = cache_.get(h->seed);
        c.left = h->arg;
        c.stage = Stage::Request;
        return c.left ? true : reply100(c);
    }
    return close(c);
  }

  bool reply100(Conn& c) {
    c.out.assign(reinterpret_cast<const char*>(c.pattern->at(0)), kReplyBytes);
    c.stage = Stage::Reply;
    return flush(c);
  }

  // The request head so far is in `out`; once it is complete, the answer replaces it. The client
  // sends nothing after the head (GET), so closing after the answer resets nothing.
  bool on_http_head(Conn& c) {
    if (c.out.find("\r\n\r\n") == std::string::npos)
      return c.out.size() > kMaxHttpHeadBytes ? close(c) : true;
    const auto body = cache_.get(kHttpSeed);
    c.out = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
            std::to_string(kReplyBytes) + "\r\nConnection: close\r\n\r\n";
    c.out.append(reinterpret_cast<const char*>(body->at(0)), kReplyBytes);
    c.out_pos = 0;
    c.stage = Stage::Reply;
    return flush(c);
  }

  // Writes what waits in `out`; a finished reply closes the connection.
  bool flush(Conn& c) {
    while (c.out_pos < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR ? true : close(c);
      c.out_pos += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_pos = 0;
    if (c.stage == Stage::Reply) return close(c);
    return true;
  }

  bool on_writable(Conn& c) {
    if (!flush(c)) return false;
    for (int turn = 0; turn < kTurnsPerWakeup && c.stage == Stage::Download && c.out.empty(); ++turn) {
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, c.left));
      const ssize_t n = ::send(c.fd, c.pattern->at(c.offset), len, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR ? true : close(c);
      c.offset += static_cast<std::uint64_t>(n);
      c.left -= static_cast<std::uint64_t>(n);
      if (c.left == 0) c.stage = Stage::Drain;  // the client closes once it has every byte
    }
    return true;
  }

  void update(Conn& c) {
    std::uint32_t want = 0;
    const bool backlogged = c.stage == Stage::Echo && c.out.size() - c.out_pos > kMaxPendingBytes;
    if (c.stage != Stage::Reply && !backlogged) want |= EPOLLIN;
    if ((!c.out.empty() && c.stage != Stage::HttpHead) || c.stage == Stage::Download) want |= EPOLLOUT;
    if (want == c.events) return;
    c.events = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  int ep_ = -1;
  const std::vector<std::unique_ptr<Conn>>& listeners_;
  PatternCache& cache_;
  std::vector<std::uint8_t> buf_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
};

}  // namespace

int run_server(const std::string& listen, int threads, int ports) {
  const auto addr = parse_endpoint(listen);
  if (!addr || ports < 1 || ports > 20000 || (ports > 1 && addr->sin_port == 0) ||
      ntohs(addr->sin_port) + ports - 1 > 65535) {
    std::fprintf(stderr, "bench_load serve: --listen wants IPv4:PORT (a fixed port with --ports N), got %s\n",
                 listen.c_str());
    return 2;
  }
  // --ports N: N consecutive ports from the given one, so that a client can reach a new host:port
  // every time (a cold target for the proxy).
  std::vector<std::unique_ptr<Conn>> listeners;
  sockaddr_in bound{};
  for (int i = 0; i < ports; ++i) {
    sockaddr_in a = *addr;
    if (ports > 1) a.sin_port = htons(static_cast<std::uint16_t>(ntohs(addr->sin_port) + i));
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) {
      std::fprintf(stderr, "bench_load serve: cannot listen on %s: %s\n", format_endpoint(a).c_str(),
                   std::strerror(errno));
      return 1;
    }
    if (i == 0) {
      socklen_t len = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    }
    auto l = std::make_unique<Conn>();
    l->fd = fd;
    l->listening = true;
    listeners.push_back(std::move(l));
  }
  std::printf("listening on %s (%d ports)\n", format_endpoint(bound).c_str(), ports);
  std::fflush(stdout);

  PatternCache cache;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> running;
  for (int i = 0; i < std::max(1, threads); ++i)
    workers.push_back(std::make_unique<Worker>(listeners, cache));
  for (auto& w : workers) running.emplace_back([&w] { w->run(); });
  for (auto& t : running) t.join();  // the workers return only if epoll cannot be set up
  return 1;
}

}  // namespace ferry::bench
