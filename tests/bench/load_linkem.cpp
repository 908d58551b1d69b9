// A link emulator for kernels without netem and fq_codel (this machine's has neither): it bridges
// two interfaces through AF_PACKET sockets and gives each direction what the shaped-link scenario
// asks of the kernel's qdiscs:
//
//   frame in ──▶ delay line (fixed delay) ──▶ fq_codel ──▶ line rate (serialization) ──▶ frame out
//
// The delay comes before the bottleneck, so CoDel sees the bottleneck's queue and never the delay
// line. fq_codel follows RFC 8290 (DRR over 1024 flow queues hashed on the 5-tuple, new flows first,
// quantum one MTU, 10,240 packets in all, overflow dropped from the fattest flow) with CoDel per flow
// after RFC 8289 (target 5 ms, interval 100 ms), the Linux defaults.
//
// Random loss (--loss PCT, scenario g) drops frames as they enter the delay line, each direction
// with its own generator, so the two directions lose independently of each other and of the
// queue: what a lossy radio or a bad cable does, where CoDel's drops are congestion's.
#include "tests/bench/load_linkem.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <vector>

#include "tests/bench/load_common.hpp"

namespace ferry::bench {
namespace {

using Ns = std::int64_t;
constexpr Ns kMs = 1'000'000;
constexpr Ns kCodelTarget = 5 * kMs;
constexpr Ns kCodelInterval = 100 * kMs;
constexpr std::size_t kFlows = 1024;
constexpr std::size_t kLimitPackets = 10240;
constexpr int kQuantum = 1514;
// Frames waiting in a delay line; far above what 100 Mbit/s puts in flight in 20 ms (~1,700).
constexpr std::size_t kDelayLinePackets = 100000;
// How far the line may run behind the clock after a late wakeup (a burst of at most ~8 frames at
// 100 Mbit/s).
constexpr Ns kCatchUp = 1 * kMs;

Ns now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Frame {
  std::vector<std::uint8_t> bytes;
  Ns at = 0;  // when it left the delay line (CoDel's sojourn time starts here)
};

// One flow's queue with its CoDel state (RFC 8289 section 5 pseudocode).
struct FlowQueue {
  std::deque<Frame> q;
  std::size_t bytes = 0;
  int deficit = 0;
  bool listed = false;
  Ns first_above_time = 0, drop_next = 0;
  std::uint32_t count = 0, lastcount = 0;
  bool dropping = false;
};

class FqCodel {
 public:
  std::uint64_t drops = 0;

  void enqueue(Frame f) {
    FlowQueue& fq = flows_[flow_of(f.bytes)];
    fq.bytes += f.bytes.size();
    fq.q.push_back(std::move(f));
    if (!fq.listed) {
      fq.listed = true;
      fq.deficit = kQuantum;
      new_.push_back(&fq);
    }
    if (++packets_ > kLimitPackets) drop_from_fattest();
  }

  // The next frame to put on the wire, or nothing.
  std::optional<Frame> dequeue(Ns now) {
    for (;;) {
      auto& list = !new_.empty() ? new_ : old_;
      if (list.empty()) return std::nullopt;
      FlowQueue* fq = list.front();
      if (fq->deficit <= 0) {
        fq->deficit += kQuantum;
        list.pop_front();
        old_.push_back(fq);
        continue;
      }
      auto f = codel_dequeue(*fq, now);
      if (!f) {
        list.pop_front();
        if (&list == &new_ && !old_.empty()) {
          old_.push_back(fq);  // RFC 8290 4.2: an emptied new flow goes to the old list first
        } else {
          fq->listed = false;
        }
        continue;
      }
      fq->deficit -= static_cast<int>(f->bytes.size());
      return f;
    }
  }

 private:
  static std::size_t flow_of(const std::vector<std::uint8_t>& b) {
    // Ethernet + IPv4: hash protocol, addresses and (for TCP/UDP) ports. Anything else is flow 0.
    if (b.size() < 14 + 20 || b[12] != 0x08 || b[13] != 0x00) return 0;
    const std::uint8_t* ip = b.data() + 14;
    const std::size_t ihl = (ip[0] & 0x0F) * 4u;
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const std::uint8_t* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    mix(ip + 9, 1);
    mix(ip + 12, 8);
    if ((ip[9] == 6 || ip[9] == 17) && b.size() >= 14 + ihl + 4) mix(ip + ihl, 4);
    return static_cast<std::size_t>(h % kFlows);
  }

  std::optional<Frame> pop(FlowQueue& fq) {
    if (fq.q.empty()) return std::nullopt;
    Frame f = std::move(fq.q.front());
    fq.q.pop_front();
    fq.bytes -= f.bytes.size();
    --packets_;
    return f;
  }

  // RFC 8289 dodequeue(): the head frame, and whether CoDel may drop it.
  std::optional<Frame> do_dequeue(FlowQueue& fq, Ns now, bool& ok_to_drop) {
    ok_to_drop = false;
    auto f = pop(fq);
    if (!f) {
      fq.first_above_time = 0;
      return f;
    }
    const Ns sojourn = now - f->at;
    if (sojourn < kCodelTarget || fq.bytes <= static_cast<std::size_t>(kQuantum)) {
      fq.first_above_time = 0;
    } else if (fq.first_above_time == 0) {
      fq.first_above_time = now + kCodelInterval;
    } else if (now >= fq.first_above_time) {
      ok_to_drop = true;
    }
    return f;
  }

  static Ns control_law(Ns t, std::uint32_t count) {
    return t + static_cast<Ns>(static_cast<double>(kCodelInterval) / std::sqrt(static_cast<double>(count)));
  }

  std::optional<Frame> codel_dequeue(FlowQueue& fq, Ns now) {
    bool ok_to_drop = false;
    auto f = do_dequeue(fq, now, ok_to_drop);
    if (!f) {
      fq.dropping = false;
      return f;
    }
    if (fq.dropping) {
      if (!ok_to_drop) {
        fq.dropping = false;
      } else {
        while (f && now >= fq.drop_next && fq.dropping) {
          ++drops;
          ++fq.count;
          f = do_dequeue(fq, now, ok_to_drop);
          if (!ok_to_drop)
            fq.dropping = false;
          else
            fq.drop_next = control_law(fq.drop_next, fq.count);
        }
      }
    } else if (ok_to_drop) {
      ++drops;
      f = do_dequeue(fq, now, ok_to_drop);
      fq.dropping = true;
      const std::uint32_t delta = fq.count - fq.lastcount;
      fq.count = (delta > 1 && now - fq.drop_next < 16 * kCodelInterval) ? delta : 1;
      fq.drop_next = control_law(now, fq.count);
      fq.lastcount = fq.count;
    }
    return f;
  }

  void drop_from_fattest() {
    FlowQueue* fat = &flows_[0];
    for (auto& fq : flows_)
      if (fq.bytes > fat->bytes) fat = &fq;
    if (pop(*fat)) ++drops;
  }

  std::array<FlowQueue, kFlows> flows_{};
  std::list<FlowQueue*> new_, old_;
  std::size_t packets_ = 0;
};

// One direction: frames read from `in` leave on `out` after the delay, the queue and the line rate.
struct Direction {
  int in = -1, out = -1;
  int out_ifindex = 0;
  std::deque<Frame> delay_line;  // a fixed delay keeps the order
  FqCodel queue;
  Ns line_free_at = 0;
  std::uint64_t forwarded = 0, send_errors = 0, delay_drops = 0, lost = 0;
  double loss = 0;  // the probability that a frame is dropped on its way in
  std::mt19937_64 random;
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
};

int open_packet_socket(const std::string& ifname, int& ifindex) {
  ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) return -1;
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return -1;
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) return ::close(fd), -1;
  const int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return fd;
}

void receive(Direction& d, Ns delay, std::vector<std::uint8_t>& buf) {
  for (int i = 0; i < 256; ++i) {
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(d.in, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) return;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;  // what this program sent on that interface
    if (d.loss > 0 && d.uniform(d.random) < d.loss) {
      ++d.lost;
      continue;
    }
    if (d.delay_line.size() >= kDelayLinePackets) {
      ++d.delay_drops;
      continue;
    }
    d.delay_line.push_back(Frame{std::vector<std::uint8_t>(buf.begin(), buf.begin() + n), now_ns() + delay});
  }
}

// Moves due frames into the queue and sends while the line is free; returns when to look again.
Ns advance(Direction& d, double ns_per_byte) {
  const Ns now = now_ns();
  while (!d.delay_line.empty() && d.delay_line.front().at <= now) {
    d.queue.enqueue(std::move(d.delay_line.front()));
    d.delay_line.pop_front();
  }
  while (d.line_free_at <= now) {
    auto f = d.queue.dequeue(now);
    if (!f) break;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = d.out_ifindex;
    to.sll_halen = ETH_ALEN;
    std::memcpy(to.sll_addr, f->bytes.data(), ETH_ALEN);
    if (sendto(d.out, f->bytes.data(), f->bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      ++d.send_errors;
    else
      ++d.forwarded;
    // The line's clock runs on from where the last frame ended, so a wakeup that comes late is made
    // up by sending sooner (within kCatchUp), and the average rate stays the configured one. Preamble,
    // FCS and gap add 24 bytes to a frame on a real Ethernet wire.
    const Ns start = std::max(d.line_free_at, now - kCatchUp);
    d.line_free_at = start + static_cast<Ns>(static_cast<double>(f->bytes.size() + 24) * ns_per_byte);
  }
  Ns next = INT64_MAX;
  if (!d.delay_line.empty()) next = d.delay_line.front().at;
  if (d.line_free_at > now) next = std::min(next, d.line_free_at);
  return next;
}

}  // namespace

int run_linkem(const std::string& if_a, const std::string& if_b, double delay_ms, double rate_mbit,
               double loss_pct, std::uint64_t seed) {
  Direction ab, ba;
  ab.loss = ba.loss = loss_pct / 100.0;
  ab.random.seed(seed);
  ba.random.seed(seed ^ 0x9E3779B97F4A7C15ull);
  int index_a = 0, index_b = 0;
  const int fd_a = open_packet_socket(if_a, index_a), fd_b = open_packet_socket(if_b, index_b);
  if (fd_a < 0 || fd_b < 0) {
    std::fprintf(stderr, "bench_load linkem: cannot open packet sockets on %s and %s: %s\n", if_a.c_str(),
                 if_b.c_str(), std::strerror(errno));
    return 1;
  }
  ab.in = fd_a, ab.out = fd_b, ab.out_ifindex = index_b;
  ba.in = fd_b, ba.out = fd_a, ba.out_ifindex = index_a;
  const Ns delay = static_cast<Ns>(delay_ms * 1e6);
  const double ns_per_byte = 8e3 / rate_mbit;  // 8 bits / (rate_mbit * 1e6 bit/s), in ns
  std::printf("linkem ready: %s <-> %s, %.1f ms each way, %.0f Mbit/s, fq_codel, %.2f%% loss each way\n",
              if_a.c_str(), if_b.c_str(), delay_ms, rate_mbit, loss_pct);
  std::fflush(stdout);

  prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time: a frame at 100 Mbit/s lasts 123 us
  std::vector<std::uint8_t> buf(65536);
  for (;;) {
    const Ns next = std::min(advance(ab, ns_per_byte), advance(ba, ns_per_byte));
    pollfd fds[2] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}};
    timespec ts{1, 0};
    if (next != INT64_MAX) {
      const Ns wait = std::max<Ns>(0, next - now_ns());
      ts = timespec{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    }
    if (ppoll(fds, 2, &ts, nullptr) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & POLLIN) receive(ab, delay, buf);
    if (fds[1].revents & POLLIN) receive(ba, delay, buf);
  }
}

}  // namespace ferry::bench
