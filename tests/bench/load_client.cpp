// The client scenarios. Every result is one JSON line; failures are counted and the first error is
// reported, so one bad connection never hides the rest of a run.
#include "tests/bench/load_client.hpp"

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "tests/bench/load_common.hpp"

namespace ferry::bench {
namespace {

std::string send_header(int fd, Op op, std::uint64_t arg, std::uint64_t seed) {
  const auto h = encode_header(Header{op, arg, seed});
  return send_all(fd, h.data(), h.size());
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The orchestrator's "go on" between the stages of run_hold; end of input also goes on.
void wait_for_line() {
  std::string line;
  std::getline(std::cin, line);
}

std::string download(int fd, std::uint64_t bytes, const Pattern& pattern) {
  std::vector<std::uint8_t> buf(kChunkBytes);
  std::uint64_t offset = 0;
  while (offset < bytes) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - offset));
    const ssize_t n = ::recv(fd, buf.data(), want, 0);
    if (n == 0) return "closed after " + std::to_string(offset) + " bytes";
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_text("recv") + " after " + std::to_string(offset) + " bytes";
    }
    if (std::memcmp(buf.data(), pattern.at(offset), static_cast<std::size_t>(n)) != 0)
      return "integrity: wrong bytes at offset " + std::to_string(offset);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

std::string upload(int fd, std::uint64_t bytes, const Pattern& pattern) {
  for (std::uint64_t offset = 0; offset < bytes;) {
    const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, bytes - offset));
    if (auto e = send_all(fd, pattern.at(offset), len); !e.empty())
      return e + " after " + std::to_string(offset);
    offset += len;
  }
  char verdict = 0;
  if (auto e = recv_exact(fd, &verdict, 1); !e.empty()) return "verdict: " + e;
  return verdict == 'K' ? "" : "integrity: the target saw wrong bytes";
}

}  // namespace

int run_bulk(const ClientOptions& o, bool down, std::uint64_t bytes) {
  const Pattern pattern(o.seed);
  std::string error;
  double seconds = 0;
  if (Dialed d = dial(o); !d.error.empty()) {
    error = d.error;
  } else {
    const auto start = Clock::now();
    error = send_header(d.fd.get(), down ? Op::Download : Op::Upload, bytes, o.seed);
    if (error.empty())
      error = down ? download(d.fd.get(), bytes, pattern) : upload(d.fd.get(), bytes, pattern);
    seconds = seconds_since(start);
  }
  JsonLine("bulk")
      .add("dir", down ? "down" : "up")
      .add("bytes", bytes)
      .add("seconds", seconds)
      .add("mb_per_s", error.empty() ? static_cast<double>(bytes) / seconds / 1e6 : 0.0)
      .add("ok", error.empty())
      .add("error", error)
      .print();
  return error.empty() ? 0 : 1;
}

int run_timed_download(const ClientOptions& o, int parallel, double seconds, double warmup_s) {
  // Each connection asks for an endless download and is read (and checked) by a thread of its own
  // from then on. The clock starts `warmup_s` after the last one is open, when the buffers along
  // the path hold what they will hold: bytes that crossed the line while the others were dialling
  // are not counted, nor the first round trips of slow start.
  const auto n = static_cast<std::size_t>(std::max(1, parallel));
  std::vector<Dialed> conns(n);
  std::vector<std::atomic<std::uint64_t>> moved(n);
  std::vector<std::string> errors(n);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  std::string error;
  for (std::size_t i = 0; i < n && error.empty(); ++i) {
    conns[i] = dial(o);
    if (conns[i].error.empty())
      conns[i].error = send_header(conns[i].fd.get(), Op::Download, 1ull << 62, o.seed + i);
    if (!conns[i].error.empty()) {
      error = "connection " + std::to_string(i) + ": " + conns[i].error;
      break;
    }
    readers.emplace_back([&, i, fd = conns[i].fd.get()] {
      const Pattern pattern(o.seed + i);
      std::vector<std::uint8_t> buf(kChunkBytes);
      std::uint64_t offset = 0;
      while (!stop) {
        const ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
        if (got <= 0) {
          if (got < 0 && errno == EINTR) continue;
          if (!stop) {
            errors[i] = got == 0 ? "closed" : errno_text("recv");
            ++failures;
          }
          return;
        }
        if (std::memcmp(buf.data(), pattern.at(offset), static_cast<std::size_t>(got)) != 0) {
          errors[i] = "integrity: wrong bytes at offset " + std::to_string(offset);
          ++failures;
          return;
        }
        offset += static_cast<std::uint64_t>(got);
        moved[i].store(offset, std::memory_order_relaxed);
      }
    });
  }
  auto total = [&] {
    std::uint64_t sum = 0;
    for (auto& m : moved) sum += m.load(std::memory_order_relaxed);
    return sum;
  };
  // Sleeps in short steps so that a connection that failed ends the run early.
  auto sleep_for = [&](double s) {
    const auto until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    while (error.empty() && failures.load() == 0 && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  sleep_for(warmup_s);
  const std::uint64_t before = total();
  const auto start = Clock::now();
  sleep_for(seconds);
  const std::uint64_t bytes = total() - before;
  const double measured = seconds_since(start);
  stop = true;
  for (auto& c : conns)
    if (c.fd) ::shutdown(c.fd.get(), SHUT_RDWR);  // wakes the readers
  for (auto& t : readers) t.join();
  for (std::size_t i = 0; i < n && error.empty(); ++i)
    if (!errors[i].empty()) error = "connection " + std::to_string(i) + ": " + errors[i];
  JsonLine("timed_download")
      .add("parallel", static_cast<int>(n))
      .add("bytes", bytes)
      .add("seconds", measured)
      .add("warmup_s", warmup_s)
      .add("mb_per_s", error.empty() ? static_cast<double>(bytes) / measured / 1e6 : 0.0)
      .add("ok", error.empty())
      .add("error", error)
      .print();
  return error.empty() ? 0 : 1;
}

int run_connect(const ClientOptions& o, int count) {
  const Pattern pattern(o.seed);
  std::vector<double> ttfb_ms;
  std::string first_error;
  int failed = 0;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    Dialed d = dial(o);
    std::string error = d.error;
    std::uint8_t reply[kReplyBytes];
    if (error.empty()) error = send_header(d.fd.get(), Op::Reply100, 0, o.seed);
    if (error.empty()) error = recv_exact(d.fd.get(), reply, 1);
    const auto t1 = Clock::now();
    if (error.empty()) error = recv_exact(d.fd.get(), reply + 1, kReplyBytes - 1);
    if (error.empty() && std::memcmp(reply, pattern.at(0), kReplyBytes) != 0)
      error = "integrity: wrong reply";
    if (error.empty()) {
      ttfb_ms.push_back(ms(t1 - t0));
    } else {
      ++failed;
      if (first_error.empty()) first_error = error;
    }
  }
  const double seconds = seconds_since(start);
  std::sort(ttfb_ms.begin(), ttfb_ms.end());
  JsonLine("connect")
      .add("count", count)
      .add("ok", static_cast<int>(ttfb_ms.size()))
      .add("failed", failed)
      .add("seconds", seconds)
      .add("per_s", static_cast<double>(ttfb_ms.size()) / seconds)
      .add("ttfb_p50_ms", percentile(ttfb_ms, 0.50))
      .add("ttfb_p99_ms", percentile(ttfb_ms, 0.99))
      .add("ttfb_max_ms", ttfb_ms.empty() ? 0.0 : ttfb_ms.back())
      .add("error", first_error)
      .print();
  return failed ? 1 : 0;
}

int run_hold(const ClientOptions& o, int count, int parallel, double deadline_s) {
  const Pattern pattern(o.seed);
  // `parallel` threads open the connections, each with blocking calls. Opening stops at the first
  // failure (what follows a refusal or an exhausted limit would fail the same way, each perhaps only
  // after a timeout) and at the deadline, so a run stays bounded whatever the proxy does.
  const int workers = std::max(1, std::min(parallel, count));
  std::vector<std::vector<Fd>> opened(static_cast<std::size_t>(workers));
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string first_error;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      while (!stop) {
        const int i = next++;
        if (i >= count) return;
        if (seconds_since(start) > deadline_s) {
          std::lock_guard lock(mu);
          if (first_error.empty())
            first_error = "deadline: " + std::to_string(static_cast<int>(deadline_s)) + " s";
          stop = true;
          return;
        }
        Dialed d = dial(o);
        if (d.error.empty()) d.error = send_header(d.fd.get(), Op::Echo, 0, o.seed);
        if (d.error.empty()) {
          opened[static_cast<std::size_t>(w)].push_back(std::move(d.fd));
          continue;
        }
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = "connection " + std::to_string(i) + ": " + d.error;
        stop = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Fd> conns;
  for (auto& v : opened)
    for (auto& fd : v) conns.push_back(std::move(fd));
  const int failed = count - static_cast<int>(conns.size());
  JsonLine("hold")
      .add("stage", "open")
      .add("count", count)
      .add("ok", static_cast<int>(conns.size()))
      .add("failed", failed)
      .add("seconds", seconds_since(start))
      .add("error", first_error)
      .print();
  wait_for_line();

  // Every message goes out before any reply is read: all connections carry one exchange at once.
  std::string exchange_error;
  const auto exchange_start = Clock::now();
  std::vector<bool> sent(conns.size());
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto e = send_all(conns[i].get(), pattern.at(i * kPingBytes), kPingBytes);
    sent[i] = e.empty();
    if (!e.empty() && exchange_error.empty()) exchange_error = "exchange " + std::to_string(i) + ": " + e;
  }
  int exchanged = 0;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    if (!sent[i]) continue;
    std::uint8_t back[kPingBytes];
    auto e = recv_exact(conns[i].get(), back, kPingBytes);
    if (e.empty() && std::memcmp(back, pattern.at(i * kPingBytes), kPingBytes) != 0) e = "wrong echo";
    if (e.empty())
      ++exchanged;
    else if (exchange_error.empty())
      exchange_error = "exchange " + std::to_string(i) + ": " + e;
  }
  JsonLine("hold")
      .add("stage", "exchange")
      .add("count", count)
      .add("ok", exchanged)
      .add("failed", count - exchanged)
      .add("seconds", seconds_since(exchange_start))
      .add("error", exchange_error)
      .print();
  wait_for_line();
  conns.clear();
  JsonLine("hold").add("stage", "closed").print();
  return exchanged == count ? 0 : 1;
}

int run_hol(const ClientOptions& o, double seconds, double interval_ms, bool bulk, double warmup_s) {
  std::string error;
  Dialed ping = dial(o);
  if (ping.error.empty()) ping.error = send_header(ping.fd.get(), Op::Echo, 0, o.seed);
  error = ping.error;

  // The bulk download runs in its own thread for as long as the pings do, verifying what it reads.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bulk_bytes{0};
  std::string bulk_error;
  std::thread bulk_thread;
  Dialed load;
  if (bulk && error.empty()) {
    const std::uint64_t seed = o.seed + 1;
    load = dial(o);
    if (load.error.empty()) load.error = send_header(load.fd.get(), Op::Download, 1ull << 62, seed);
    error = load.error.empty() ? "" : "bulk: " + load.error;
    if (error.empty()) {
      bulk_thread = std::thread([&, seed, fd = load.fd.get()] {
        const Pattern pattern(seed);
        std::vector<std::uint8_t> buf(kChunkBytes);
        std::uint64_t offset = 0;
        while (!stop) {
          const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
          if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            if (!stop) bulk_error = n == 0 ? "bulk: closed" : errno_text("bulk recv");
            return;
          }
          if (std::memcmp(buf.data(), pattern.at(offset), static_cast<std::size_t>(n)) != 0) {
            bulk_error = "bulk: integrity: wrong bytes at offset " + std::to_string(offset);
            return;
          }
          offset += static_cast<std::uint64_t>(n);
          bulk_bytes.store(offset, std::memory_order_relaxed);
        }
      });
      std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
    }
  }

  const Pattern pattern(o.seed);
  std::vector<double> rtt_ms;
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(interval_ms));
  const std::uint64_t bytes_before = bulk_bytes.load();
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (std::uint64_t i = 0; error.empty() && Clock::now() < end; ++i) {
    const auto t0 = Clock::now();
    std::uint8_t back[kPingBytes];
    error = send_all(ping.fd.get(), pattern.at(i * kPingBytes), kPingBytes);
    if (error.empty()) error = recv_exact(ping.fd.get(), back, kPingBytes);
    if (error.empty() && std::memcmp(back, pattern.at(i * kPingBytes), kPingBytes) != 0) error = "wrong echo";
    if (error.empty()) rtt_ms.push_back(ms(Clock::now() - t0));
    std::this_thread::sleep_until(t0 + interval);
  }
  const double measured_s = seconds_since(start);
  const std::uint64_t bulk_moved = bulk_bytes.load() - bytes_before;
  stop = true;
  if (bulk_thread.joinable()) {
    ::shutdown(load.fd.get(), SHUT_RDWR);  // wakes the reader
    bulk_thread.join();
  }
  if (error.empty()) error = bulk_error;
  std::sort(rtt_ms.begin(), rtt_ms.end());
  JsonLine("hol")
      .add("bulk", bulk)
      .add("count", static_cast<int>(rtt_ms.size()))
      .add("p50_ms", percentile(rtt_ms, 0.50))
      .add("p99_ms", percentile(rtt_ms, 0.99))
      .add("max_ms", rtt_ms.empty() ? 0.0 : rtt_ms.back())
      .add("bulk_mb_per_s", static_cast<double>(bulk_moved) / measured_s / 1e6)
      .add("ok", error.empty())
      .add("error", error)
      .print();
  return error.empty() ? 0 : 1;
}

}  // namespace ferry::bench
