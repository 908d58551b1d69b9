// Link benchmark: this machine's ChaCha20-Poly1305 ceiling beside what the link achieves, measured in
// the same run. The relay side runs in a forked child process, so each side's CPU and memory are its
// own. Prints a table; see docs/performance.md for the method and recorded results.
//
//   link_bench [--bytes GiB] [--idle N]
#include <sodium.h>
#include <sys/resource.h>
#if defined(__APPLE__)
#include <mach/mach.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/crypto/cipher_state.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"

using namespace ferry;
using Clock = std::chrono::steady_clock;

namespace {

struct Usage {
  long rss_kib = 0;
  double cpu_s = 0;
};

Usage self_usage() {
  Usage u;
#if defined(__APPLE__)
  mach_task_basic_info info{};
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO, reinterpret_cast<task_info_t>(&info), &count) ==
      KERN_SUCCESS)
    u.rss_kib = static_cast<long>(info.resident_size / 1024);
#else
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  u.rss_kib = resident * (sysconf(_SC_PAGESIZE) / 1024);
#endif
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  u.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return u;
}

// The bulk source: in the agent and relay, a socket read lands in the stream's queue through
// send_space(); the kernel's copy is the only one. Here the bytes are left as they are (pooled chunks
// hold earlier data, new ones are zeroed), so the figures count the link's work, not a generator's.
std::size_t fill(link::Mux& mux, link::StreamId id, std::uint64_t left) {
  const MutByteSpan space = mux.send_space(id);
  return static_cast<std::size_t>(std::min<std::uint64_t>(space.size(), left));
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The suite under test: --cipher, or what an agent's "auto" would offer on this CPU.
crypto::CipherSuite g_suite = crypto::CipherSuite::ChaChaPoly;

// Single-core AEAD throughput on 64 KiB records, the link's record size, through the same
// CipherState (libcrypto's AEAD, in the suite under test) that the link encrypts with.
double aead_mb_per_s() {
  std::vector<std::uint8_t> buf(65519 + 16);
  std::uint8_t key[32] = {};
  randombytes_buf(buf.data(), buf.size());
  crypto::CipherState cs;
  cs.initialize_key(key, g_suite);
  std::uint64_t bytes = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < 1.5) {
    for (int i = 0; i < 64; ++i) {
      if (!cs.encrypt({}, buf.data(), 65519, buf.data())) std::abort();
      bytes += 65519;
    }
  }
  return static_cast<double>(bytes) / seconds_since(start) / 1e6;
}

// ---- relay side (child process) ----

class Relay final : public link::LinkEvents {
 public:
  Relay(uv::Loop& loop, const crypto::SecretKey& key, const crypto::PublicKey& agent, int port_fd)
      : loop_(loop),
        key_(key),
        listener_(loop.get(), [this](uv_stream_t* s) { on_connection(s); }),
        blob_(256 * 1024, 0x5A) {
    admission_.agent = agent;
    auto addr = uv::parse_socket_address("127.0.0.1:0");
    if (!listener_.listen(reinterpret_cast<const sockaddr*>(&*addr))) std::abort();
    const int port = listener_.local_port();
    if (write(port_fd, &port, sizeof port) != sizeof port) std::abort();
  }

 private:
  struct Admit : link::Admission {
    crypto::PublicKey agent;
    bool admit(const crypto::PublicKey& k) override { return k == agent; }
    bool fresh(const crypto::PublicKey&, const crypto::Tai64n&) override { return true; }
  };
  enum class Mode { Sink, Echo, Idle, Stat, Source };
  struct Source {
    std::uint64_t left = 0;
  };

  void on_connection(uv_stream_t* server) {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Responder;
    c.static_key = &key_;
    c.admission = &admission_;
    c.accept_suites = crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm};
    c.mux.max_streams = 20000;
    conn_ = std::make_unique<uv::LinkConnection>(loop_.get(), c, *this,
                                                 [this](uv::LinkConnection&) { listener_.close(); });
    if (!conn_->accept(server)) std::abort();
  }
  void on_open(link::StreamId id, const Target& t) override {
    Mode m = Mode::Idle;
    if (t.name == "sink") m = Mode::Sink;
    if (t.name == "echo") m = Mode::Echo;
    if (t.name == "stat") m = Mode::Stat;
    if (t.name.rfind("source", 0) == 0) {
      m = Mode::Source;
      sources_[id].left = std::stoull(t.name.substr(7));
    }
    modes_[id] = m;
    conn_->mux().accept(id, frame::OpenCode::Ok);
    if (m == Mode::Stat) {
      const Usage u = self_usage();
      const std::string s = std::to_string(u.rss_kib) + " " + std::to_string(u.cpu_s);
      conn_->mux().send(id, ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
      conn_->mux().finish(id);
    }
    if (m == Mode::Source) pump(id);
  }
  // Fills the stream's queue in place, as a socket read into send_space() would; see fill().
  void pump(link::StreamId id) {
    auto& s = sources_[id];
    while (s.left > 0) {
      const std::size_t n = fill(conn_->mux(), id, s.left);
      s.left -= n;
      if (!conn_->mux().commit_send(id, n)) break;
    }
    if (s.left == 0) conn_->mux().finish(id);
  }
  void on_writable(link::StreamId id) override {
    if (modes_[id] == Mode::Source) pump(id);
  }
  void on_data(link::StreamId id, ByteSpan b) override {
    if (modes_[id] == Mode::Echo) conn_->mux().send(id, b);
    conn_->mux().consumed(id, b.size(), loop_.now());
  }
  void on_fin(link::StreamId id) override {
    if (modes_[id] != Mode::Source) conn_->mux().finish(id);
  }
  void on_reset(link::StreamId id, frame::ResetCode) override { modes_.erase(id); }
  void on_closed(const Error&) override {}

  uv::Loop& loop_;
  const crypto::SecretKey& key_;
  Admit admission_;
  uv::TcpListener listener_;
  std::unique_ptr<uv::LinkConnection> conn_;
  std::map<link::StreamId, Mode> modes_;
  std::map<link::StreamId, Source> sources_;
  std::vector<std::uint8_t> blob_;
};

// ---- agent side (parent) ----

class Agent final : public link::LinkEvents {
 public:
  struct Results {
    double upload_mb_s = 0, download_mb_s = 0;
    double agent_cpu_up = 0, relay_cpu_up = 0, agent_cpu_down = 0, relay_cpu_down = 0;
    double open_p50_us = 0, open_p99_us = 0, echo_p50_us = 0, echo_p99_us = 0;
    long agent_idle_kib = 0, relay_idle_kib = 0, agent_base_kib = 0, relay_base_kib = 0;
    int idle_streams = 0;
  } r;

  Agent(uv::Loop& loop, const crypto::SecretKey& key, const crypto::PublicKey& relay, int port,
        std::uint64_t bytes, int idle)
      : loop_(loop), bytes_(bytes), idle_(idle), blob_(256 * 1024, 0xA5) {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Initiator;
    c.static_key = &key;
    c.peer_key = relay;
    c.suite = g_suite;
    c.mux.max_streams = 20000;
    conn_ = std::make_unique<uv::LinkConnection>(loop.get(), c, *this, [](uv::LinkConnection&) {});
    auto addr = uv::parse_socket_address("127.0.0.1:" + std::to_string(port));
    if (!conn_->connect(reinterpret_cast<const sockaddr*>(&*addr))) std::abort();
  }

 private:
  enum class Phase { Latency, Upload, Download, IdleBase, Idle, IdleStat, Done };

  link::StreamId open(const std::string& name) {
    auto id = conn_->mux().open(Target::host(name, 1));
    if (!id) std::abort();
    return *id;
  }
  void on_established(const crypto::PublicKey&) override { next_latency(); }

  // Phase 1: open a stream (one link round trip), then one 64-byte echo (one round trip) - 300 times.
  void next_latency() {
    if (opens_.size() == 300) return start_upload();
    open_started_ = Clock::now();
    cur_ = open("echo");
  }
  void start_upload() {
    phase_ = Phase::Upload;
    relay_stat();
  }
  void relay_stat() { stat_id_ = open("stat"), stat_text_.clear(); }
  void on_stat(const std::string& text) {
    Usage relay{};
    std::sscanf(text.c_str(), "%ld %lf", &relay.rss_kib, &relay.cpu_s);
    const Usage me = self_usage();
    switch (phase_) {
      case Phase::Upload:
        if (!stage_started_) {
          base_relay_ = relay, base_self_ = me;
          stage_started_ = true;
          t0_ = Clock::now();
          cur_ = open("sink");
          sent_ = 0;
          return;
        }
        r.relay_cpu_up = relay.cpu_s - base_relay_.cpu_s;
        r.agent_cpu_up = me.cpu_s - base_self_.cpu_s;
        phase_ = Phase::Download, stage_started_ = false;
        return relay_stat();
      case Phase::Download:
        if (!stage_started_) {
          base_relay_ = relay, base_self_ = me;
          stage_started_ = true;
          t0_ = Clock::now();
          received_ = 0;
          cur_ = open("source:" + std::to_string(bytes_));
          return;
        }
        r.relay_cpu_down = relay.cpu_s - base_relay_.cpu_s;
        r.agent_cpu_down = me.cpu_s - base_self_.cpu_s;
        phase_ = Phase::IdleBase;
        // Let both links go idle long enough to return their batch buffers and chunk pools, so the
        // baseline holds only what an idle link keeps.
        settle_.init(uv_timer_init, loop_.get(), this);
        uv_timer_start(
            settle_.get(),
            [](uv_timer_t* t) {
              auto* self = static_cast<Agent*>(t->data);
              self->settle_.close();
              self->relay_stat();
            },
            uv::LinkConnection::kIdleTrimMs + 500, 0);
        return;
      case Phase::IdleBase:
        r.relay_base_kib = relay.rss_kib, r.agent_base_kib = me.rss_kib;
        phase_ = Phase::Idle;
        for (int i = 0; i < idle_; ++i) open("idle");
        if (idle_ == 0) phase_ = Phase::IdleStat, relay_stat();
        return;
      case Phase::IdleStat:
        r.relay_idle_kib = relay.rss_kib, r.agent_idle_kib = me.rss_kib;
        r.idle_streams = idle_;
        phase_ = Phase::Done;
        conn_->close(frame::CloseCode::Normal, "bench done");
        return;
      default:
        return;
    }
  }
  void on_open_result(link::StreamId id, const frame::OpenResult& res) override {
    if (res.code != frame::OpenCode::Ok) std::abort();
    if (phase_ == Phase::Latency) {
      opens_.push_back(seconds_since(open_started_) * 1e6);
      echo_started_ = Clock::now();
      conn_->mux().send(id, ByteSpan(blob_).first(64));
      return;
    }
    if (phase_ == Phase::Upload && id == cur_) return pump();
    if (phase_ == Phase::Idle && ++idle_open_ == idle_) {
      phase_ = Phase::IdleStat;
      relay_stat();
    }
  }
  void pump() {
    while (sent_ < bytes_) {
      const std::size_t n = fill(conn_->mux(), cur_, bytes_ - sent_);
      sent_ += n;
      if (!conn_->mux().commit_send(cur_, n)) return;
    }
    conn_->mux().finish(cur_);
  }
  void on_writable(link::StreamId id) override {
    if (phase_ == Phase::Upload && id == cur_) pump();
  }
  void on_data(link::StreamId id, ByteSpan b) override {
    conn_->mux().consumed(id, b.size(), loop_.now());
    if (id == stat_id_) {
      stat_text_.append(b.begin(), b.end());
      return;
    }
    if (phase_ == Phase::Latency && id == cur_) {
      echoes_.push_back(seconds_since(echo_started_) * 1e6);
      conn_->mux().reset(id, frame::ResetCode::Cancel);
      return next_latency();
    }
    received_ += b.size();
  }
  void on_fin(link::StreamId id) override {
    if (id == stat_id_) return on_stat(stat_text_);
    if (phase_ == Phase::Upload && id == cur_) {
      r.upload_mb_s = static_cast<double>(bytes_) / seconds_since(t0_) / 1e6;
      conn_->mux().finish(id);
      return relay_stat();
    }
    if (phase_ == Phase::Download && id == cur_) {
      r.download_mb_s = static_cast<double>(received_) / seconds_since(t0_) / 1e6;
      conn_->mux().finish(id);
      return relay_stat();
    }
  }
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override {
    auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0 : v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
    };
    r.open_p50_us = pct(opens_, 0.5), r.open_p99_us = pct(opens_, 0.99);
    r.echo_p50_us = pct(echoes_, 0.5), r.echo_p99_us = pct(echoes_, 0.99);
  }

  uv::Loop& loop_;
  std::uint64_t bytes_;
  int idle_;
  std::vector<std::uint8_t> blob_;
  std::unique_ptr<uv::LinkConnection> conn_;
  Phase phase_ = Phase::Latency;
  link::StreamId cur_ = 0, stat_id_ = 0;
  std::string stat_text_;
  Clock::time_point open_started_, echo_started_, t0_;
  std::vector<double> opens_, echoes_;
  std::uint64_t sent_ = 0, received_ = 0;
  bool stage_started_ = false;
  Usage base_relay_, base_self_;
  int idle_open_ = 0;
  uv::HandleGroup handles_;
  uv::Handle<uv_timer_t> settle_{handles_};
};

}  // namespace

int main(int argc, char** argv) {
  double gib = 2;
  int idle = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--bytes") == 0) gib = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--idle") == 0) idle = std::atoi(argv[i + 1]);
  }
  g_suite = crypto::aes_gcm_accelerated() ? crypto::CipherSuite::AesGcm : crypto::CipherSuite::ChaChaPoly;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--cipher") != 0) continue;
    const auto s = crypto::parse_suite(argv[i + 1]);
    if (!s) {
      std::fprintf(stderr, "--cipher: chacha20-poly1305 or aes-256-gcm\n");
      return 2;
    }
    g_suite = *s;
  }
  if (sodium_init() < 0) return 1;
  const auto bytes = static_cast<std::uint64_t>(gib * 1024 * 1024 * 1024);
  const auto agent_key = crypto::SecretKey::generate();
  const auto relay_key = crypto::SecretKey::generate();

  // The ceiling is measured before and after the transfers and averaged: this machine is shared.
  const double aead_before = aead_mb_per_s();

  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    uv::Loop loop;
    {
      Relay relay(loop, relay_key, agent_key.public_key(), fds[1]);
      loop.run();
    }
    _exit(loop.close() == 0 ? 0 : 3);
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != sizeof port) return 1;

  Agent::Results r;
  {
    uv::Loop loop;
    {
      Agent agent(loop, agent_key, relay_key.public_key(), port, bytes, idle);
      loop.run();
      r = agent.r;
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  const double aead = (aead_before + aead_mb_per_s()) / 2;

  const double gib_moved = static_cast<double>(bytes) / (1 << 30);
  std::printf("ferry link benchmark (loopback, relay in a child process, %.1f GiB per direction)\n\n",
              gib_moved);
  std::printf("%-44s %12s\n", "measure", "value");
  const std::string aead_label = std::string(crypto::suite_name(g_suite)) + " (libcrypto) one core";
  std::printf("%-44s %9.0f MB/s\n", aead_label.c_str(), aead);
  std::printf("%-44s %9.0f MB/s  (%.0f%% of AEAD)\n", "one stream agent->relay", r.upload_mb_s,
              100 * r.upload_mb_s / aead);
  std::printf("%-44s %9.0f MB/s  (%.0f%% of AEAD)\n", "one stream relay->agent", r.download_mb_s,
              100 * r.download_mb_s / aead);
  std::printf("%-44s %9.2f s/GiB (agent %.2f + relay %.2f)\n", "CPU agent->relay",
              (r.agent_cpu_up + r.relay_cpu_up) / gib_moved, r.agent_cpu_up / gib_moved,
              r.relay_cpu_up / gib_moved);
  std::printf("%-44s %9.2f s/GiB (agent %.2f + relay %.2f)\n", "CPU relay->agent",
              (r.agent_cpu_down + r.relay_cpu_down) / gib_moved, r.agent_cpu_down / gib_moved,
              r.relay_cpu_down / gib_moved);
  std::printf("%-44s %9.2f s/GiB\n", "AEAD floor (two passes per byte)", 2 * 1073.741824 / aead);
  std::printf("%-44s %9.0f us p50, %.0f us p99\n", "open a stream (OPEN -> OPEN_RESULT)", r.open_p50_us,
              r.open_p99_us);
  std::printf("%-44s %9.0f us p50, %.0f us p99\n", "one 64-byte echo on an open stream", r.echo_p50_us,
              r.echo_p99_us);
  std::printf("%-44s %9.2f (1.0 = no extra round trip)\n", "open / echo, p50", r.open_p50_us / r.echo_p50_us);
  if (r.idle_streams > 0) {
    std::printf("%-44s %9.2f KiB agent, %.2f KiB relay\n", "memory per idle stream",
                static_cast<double>(r.agent_idle_kib - r.agent_base_kib) / r.idle_streams,
                static_cast<double>(r.relay_idle_kib - r.relay_base_kib) / r.idle_streams);
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) std::printf("relay child failed (status %d)\n", status);
  return ok ? 0 : 1;
}
