// A home connection between two network namespaces, in user space: a rate-limited bottleneck with
// fq_codel-style queueing (flows hashed into queues served round robin, CoDel on each) followed by a
// fixed one-way delay, in both directions. The benchmark needs it because this machine's kernel has
// neither netem nor fq_codel (CONFIG_NET_SCH_NETEM/FQ_CODEL off), and CI's is the same kind.
//
//   link_emulator --ns-a laptop --ns-b office --delay-ms 20 --rate-mbit 100 [--max-seconds 600]
//
// It opens a TUN device named "emu0" in each namespace (by /var/run/netns/NAME), prints "ready" and
// forwards IP packets between them until SIGTERM, SIGINT, EOF on stdin or --max-seconds. The caller
// gives the devices their addresses (ip -n NS addr add A peer B dev emu0; ip -n NS link set emu0 up).
// On exit it prints what it forwarded and dropped. Linux only (TUN, setns), root only.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <vector>

namespace {

using Nanos = std::int64_t;

Nanos now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

volatile sig_atomic_t stop_requested = 0;

struct Packet {
  Nanos arrived = 0;  // entered the bottleneck queue
  Nanos deliver_at = 0;
  std::vector<std::uint8_t> bytes;
};

// CoDel (RFC 8289) on one flow's queue: drop at dequeue once packets have waited longer than `target`
// for a whole `interval`, then ever more often (interval / sqrt(count)) until the queue drains.
struct CoDelQueue {
  std::deque<Packet> packets;
  std::size_t bytes = 0;
  Nanos first_above = 0;
  Nanos drop_next = 0;
  std::uint32_t count = 0;
  bool dropping = false;
  std::int64_t deficit = 0;
  bool active = false;  // in the round-robin list
};

constexpr Nanos kTarget = 5'000'000;  // fq_codel's defaults
constexpr Nanos kInterval = 100'000'000;
constexpr std::size_t kFlows = 1024;
constexpr std::int64_t kQuantum = 1514;
constexpr std::size_t kLimitPackets = 10240;

class Direction {
 public:
  Direction(int in, int out, double bits_per_ns, Nanos delay)
      : in_(in), out_(out), bpns_(bits_per_ns), delay_(delay) {}

  std::uint64_t forwarded = 0, dropped = 0;

  // Reads every packet waiting on the input device into its flow's queue.
  void read_all(Nanos now) {
    static std::uint8_t buf[65536];
    for (;;) {
      const ssize_t n = ::read(in_, buf, sizeof buf);
      if (n <= 0) return;
      Packet p;
      p.bytes.assign(buf, buf + n);  // exactly its size: the queue may hold thousands
      p.arrived = now;
      if (queued_ >= kLimitPackets) {  // fq_codel's hard limit: drop from the fattest flow
        ++dropped;
        continue;
      }
      CoDelQueue& q = flows_[flow_of(p.bytes)];
      q.bytes += p.bytes.size();
      q.packets.push_back(std::move(p));
      ++queued_;
      if (!q.active) {
        q.active = true;
        q.deficit = kQuantum;
        round_.push_back(&q);
      }
    }
  }

  // Serves the bottleneck up to `now`: each packet occupies the line for its size at the rate, then
  // waits out the delay in the delay line.
  void serve(Nanos now) {
    while (!round_.empty()) {
      if (line_free_ > now) return;
      CoDelQueue* q = round_.front();
      if (q->packets.empty()) {
        q->active = false;
        round_.pop_front();
        continue;
      }
      if (q->deficit <= 0) {  // deficit round robin: this flow had its turn
        q->deficit += kQuantum;
        round_.pop_front();
        round_.push_back(q);
        continue;
      }
      const Nanos start = std::max(line_free_, q->packets.front().arrived);
      Packet p = dequeue(*q, start);
      if (p.bytes.empty()) continue;  // CoDel dropped (the next packet gets its chance)
      q->deficit -= static_cast<std::int64_t>(p.bytes.size());
      line_free_ = start + static_cast<Nanos>(static_cast<double>(p.bytes.size() * 8) / bpns_);
      p.deliver_at = line_free_ + delay_;
      delay_line_.push_back(std::move(p));
    }
  }

  void deliver(Nanos now) {
    while (!delay_line_.empty() && delay_line_.front().deliver_at <= now) {
      const Packet& p = delay_line_.front();
      if (::write(out_, p.bytes.data(), p.bytes.size()) < 0 && errno == EAGAIN) return;  // try again soon
      ++forwarded;
      delay_line_.pop_front();
    }
  }

  // When something is due next (0: nothing pending).
  Nanos next_event() const {
    Nanos t = 0;
    if (!delay_line_.empty()) t = delay_line_.front().deliver_at;
    if (!round_.empty() && (t == 0 || line_free_ < t)) t = line_free_;
    return t;
  }

 private:
  static std::size_t flow_of(const std::vector<std::uint8_t>& b) {
    // IPv4 and IPv6 addresses, protocol and TCP/UDP ports, hashed (FNV-1a) into kFlows queues.
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const std::uint8_t* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    if (b.size() >= 20 && (b[0] >> 4) == 4) {
      const std::size_t ihl = (b[0] & 0x0F) * 4u;
      mix(&b[9], 1);
      mix(&b[12], 8);
      if (b.size() >= ihl + 4) mix(&b[ihl], 4);
    } else if (b.size() >= 44 && (b[0] >> 4) == 6) {
      mix(&b[6], 1);
      mix(&b[8], 32);
      mix(&b[40], 4);
    }
    return static_cast<std::size_t>(h % kFlows);
  }

  // Takes the head of `q` at time `t`, applying CoDel; an empty packet means it was dropped.
  Packet dequeue(CoDelQueue& q, Nanos t) {
    Packet p = std::move(q.packets.front());
    q.packets.pop_front();
    q.bytes -= p.bytes.size();
    --queued_;
    const Nanos sojourn = t - p.arrived;
    bool ok_to_drop = false;
    if (sojourn < kTarget || q.bytes <= 1514) {
      q.first_above = 0;
    } else if (q.first_above == 0) {
      q.first_above = t + kInterval;
    } else if (t >= q.first_above) {
      ok_to_drop = true;
    }
    if (q.dropping) {
      if (!ok_to_drop) {
        q.dropping = false;
      } else if (t >= q.drop_next) {
        ++q.count;
        q.drop_next = t + static_cast<Nanos>(static_cast<double>(kInterval) / std::sqrt(q.count));
        ++dropped;
        return {};
      }
    } else if (ok_to_drop) {
      q.dropping = true;
      q.count = q.count > 2 && t - q.drop_next < 16 * kInterval ? q.count - 2 : 1;
      q.drop_next = t + static_cast<Nanos>(static_cast<double>(kInterval) / std::sqrt(q.count));
      ++dropped;
      return {};
    }
    return p;
  }

  int in_, out_;
  double bpns_;
  Nanos delay_;
  std::array<CoDelQueue, kFlows> flows_{};
  std::deque<CoDelQueue*> round_;
  std::deque<Packet> delay_line_;
  std::size_t queued_ = 0;
  Nanos line_free_ = 0;
};

int open_tun_in(const std::string& ns) {
  const int self = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "link_emulator: cannot enter namespace %s: %s\n", ns.c_str(), std::strerror(errno));
    std::exit(1);
  }
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, "emu0", IFNAMSIZ - 1);
  if (fd < 0 || ::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    std::fprintf(stderr, "link_emulator: cannot create a TUN device in %s: %s\n", ns.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  ::setns(self, CLONE_NEWNET);  // the device stays in the namespace it was made in
  ::close(self);
  ::close(target);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string ns_a, ns_b;
  double delay_ms = 20, rate_mbit = 100, max_seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--ns-a")
      ns_a = v;
    else if (k == "--ns-b")
      ns_b = v;
    else if (k == "--delay-ms")
      delay_ms = std::atof(v);
    else if (k == "--rate-mbit")
      rate_mbit = std::atof(v);
    else if (k == "--max-seconds")
      max_seconds = std::atof(v);
    else {
      std::fprintf(stderr, "link_emulator: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (ns_a.empty() || ns_b.empty() || rate_mbit <= 0 || delay_ms < 0) {
    std::fprintf(stderr, "usage: link_emulator --ns-a NS --ns-b NS [--delay-ms 20] [--rate-mbit 100]\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop_requested = 1; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time: 1 ms of slack is 8 packets at 100 Mbit/s

  const int a = open_tun_in(ns_a), b = open_tun_in(ns_b);
  const double bpns = rate_mbit * 1e6 / 1e9;
  const Nanos delay = static_cast<Nanos>(delay_ms * 1e6);
  Direction ab(a, b, bpns, delay), ba(b, a, bpns, delay);
  std::printf("ready\n");
  std::fflush(stdout);

  const Nanos deadline = now_ns() + static_cast<Nanos>(max_seconds * 1e9);
  while (!stop_requested && now_ns() < deadline) {
    pollfd fds[3] = {{a, POLLIN, 0}, {b, POLLIN, 0}, {0, POLLIN, 0}};
    Nanos next = 0;
    for (Nanos t : {ab.next_event(), ba.next_event()})
      if (t != 0 && (next == 0 || t < next)) next = t;
    const Nanos now = now_ns();
    Nanos wait = next == 0 ? 100'000'000 : std::max<Nanos>(0, next - now);
    timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    if (::ppoll(fds, 3, &ts, nullptr) < 0 && errno != EINTR) break;
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      char c;
      if (::read(0, &c, 1) <= 0) break;  // the caller went away
    }
    const Nanos t = now_ns();
    if (fds[0].revents & POLLIN) ab.read_all(t);
    if (fds[1].revents & POLLIN) ba.read_all(t);
    ab.serve(t);
    ba.serve(t);
    ab.deliver(t);
    ba.deliver(t);
  }
  std::printf("forwarded %llu/%llu packets, dropped %llu/%llu (a->b / b->a)\n",
              static_cast<unsigned long long>(ab.forwarded), static_cast<unsigned long long>(ba.forwarded),
              static_cast<unsigned long long>(ab.dropped), static_cast<unsigned long long>(ba.dropped));
  return 0;
}
