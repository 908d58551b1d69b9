// Reconnect storm (issue 21, scenario h): N simulated agents, each with its own key and its own source
// address, link to a real ferry-relay, lose their links when the relay restarts and reconnect as the
// agent does. Driven by tests/bench/bench_storm.py over stdin/stdout; see docs/performance.md
// ("Reconnect storm").
//
//   bench_storm --relay IP:PORT --relay-key BASE64 --agents-file FILE [--agents 1000] [--nat 20]
//               [--links 1] [--no-precompute] [--reconnect at-once|backoff] [--deadline-s 60]
//               [--settle-ms 1000]
//
// Each agent runs the project's own LinkSession (common/link) as initiator, so message 1 and 2, their
// timestamps, the wire version and flags are the real agent's (resumable, takes ROUTES, the suite
// "auto" offers), and the PINGs the relay sends an established link are answered as the agent would.
// A link is up when message 2 verified (LinkEvents::on_established); an agent is linked when one of
// its links is. With --links N each agent keeps the agent's pool of N links (agent.toml [relay] links,
// whose default is 2): the others connect one at a time, and only while the first is up
// (agent/link_pool.cpp, may_connect).
//
// Protocol with the driver: the program writes FILE ([[agents]] tables for relay.toml's agents_file),
// prints {"event":"keys"}, and waits for "go". It then links every agent (all at once, the first
// phase) and prints {"event":"linked","phase":"initial"}. The driver restarts the relay; every agent
// sees its link end and reconnects (the second phase, "storm"). The driver writes "restarted T", T
// the CLOCK_MONOTONIC second its new relay accepted (or the old one died, when the two overlap). Once
// link of every agent is up again and stays so for --settle-ms, or at the deadline, the program
// prints {"event":"result"} per phase and exits (0 all linked, 1 not).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto/cipher_suite.hpp"
#include "common/crypto/keys.hpp"
#include "common/link/link_session.hpp"

using namespace ferry;
using Clock = std::chrono::steady_clock;

namespace {

// The agent's (agent/link_client.hpp): the first backoff step and the caps, idle and with streams
// held for a resume. Copied, not included: the agent's code is not part of ferry_common.
constexpr std::uint64_t kBackoffFirstMs = 250;
constexpr std::uint64_t kBackoffMaxMs = 30'000;
constexpr std::uint64_t kHeldBackoffMaxMs = 2000;
// LinkConnection::connect gives the TCP connect as long as the handshake gets (docs/protocol.md 2.4).
constexpr std::uint64_t kConnectTimeoutMs = 5000;
constexpr std::uint64_t kTickMs = 100;  // LinkConnection's link timer

// This process's CPU seconds: the simulated agents' handshakes share the machine with the relay.
double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double mono_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
link::Instant now_ms() { return std::chrono::duration_cast<link::Millis>(Clock::now().time_since_epoch()); }

struct Options {
  std::string relay;
  std::string relay_key;
  std::string agents_file;
  int agents = 1000;
  int nat = 20;
  int links = 1;
  bool at_once = true;  // reconnect at once after a lost link (an agent with streams open)
  bool precompute = true;
  double deadline_s = 60;
  double settle_s = 1.0;
};

// How an attempt ended. Refused: ECONNREFUSED, nothing listens (the relay is down). Closed: EOF or a
// reset before message 2, the relay said nothing (its pre-auth limits). The two timeouts are the
// agent's 5 s for the TCP connect and for the handshake.
enum class Outcome { Linked, Refused, Closed, ConnectTimeout, HandshakeTimeout, Other };

struct Attempt {
  int agent;
  int slot;  // the link's place in the agent's pool; 0 is the primary
  int phase;
  double start;  // mono seconds: socket() and connect()
  double end;    // message 2 verified, or the attempt failed
  Outcome outcome;
  // Where a linked attempt's time went: TCP connect, then message 1 out to message 2's bytes read
  // (the relay's share, with its queue), the rest is this program's own work and its event batches.
  double connect_s = 0;
  double reply_s = 0;
};

struct Agent;
struct Link;

class Events : public link::LinkEvents {
 public:
  explicit Events(Link& l) : l_(l) {}
  void on_established(const crypto::PublicKey&) override;
  void on_closed(const Error& why) override;

 private:
  Link& l_;
};

// One LinkClient of an agent's pool.
struct Link {
  // Parked: its retry came while the pool did not let it connect (LinkPool::may_connect).
  enum class State { Idle, Parked, Waiting, Connecting, Handshaking, Up };
  Agent* agent = nullptr;
  int slot = 0;
  std::uint32_t id = 0;  // epoll's key
  State state = State::Idle;
  int fd = -1;
  std::unique_ptr<Events> events;
  std::unique_ptr<link::LinkSession> session;
  // The primary's next message 1, written while it waits (see prepare()), and the session's clock:
  // its milliseconds count from the connect, so the handshake's 5 s start there as the agent's do.
  std::unique_ptr<link::LinkSession> prepared;
  link::Instant clock_base{0};
  std::optional<Error> closed;  // the session ended inside a call; handled once it returned
  bool established_now = false;
  Bytes out;
  std::size_t out_off = 0;
  bool want_out = false;  // EPOLLOUT registered
  double attempt_start = 0;
  double connected_at = 0;  // the connect finished (its event was handled)
  double message1_at = 0;   // message 1 written
  double message2_at = 0;   // the first bytes of message 2 read, before they are decrypted
  double retry_at = 0;
  double connect_deadline = 0;
  double next_tick = 0;
  int attempt_phase = 0;
  std::uint64_t backoff_ms = kBackoffFirstMs;
  bool held = false;  // the real agent's held_: streams wait for a resume (shorter backoff cap)
  crypto::CipherSuite offered = crypto::CipherSuite::ChaChaPoly;
  std::optional<link::SessionId> last_session;
};

link::Instant session_now(const Link& l) { return now_ms() - l.clock_base; }

struct Agent {
  int index = 0;
  bool nat = false;
  sockaddr_in source{};
  crypto::SecretKey key;
  // The primary's cipher choice (agent/cipher_choice): "auto" fell back to ChaCha20-Poly1305 after an
  // AES-256-GCM handshake that went unanswered. The other links follow the primary.
  bool aes_unanswered = false;
  int up = 0;  // links up
  std::vector<std::unique_ptr<Link>> links;
};

void Events::on_established(const crypto::PublicKey&) { l_.established_now = true; }
void Events::on_closed(const Error& why) { l_.closed = why; }

class Storm {
 public:
  explicit Storm(Options o) : o_(std::move(o)) {}
  int run();

 private:
  bool setup();
  bool may_connect(const Link& l) const;
  void pool_changed(Agent& a);
  void start_attempt(Link& l);
  void on_event(Link& l, std::uint32_t ev);
  void after_session_call(Link& l);
  void flush(Link& l);
  void fail_attempt(Link& l, Outcome why);
  void lost_link(Link& l);
  void drop_socket(Link& l);
  void schedule(Link& l, bool at_once);
  std::unique_ptr<link::LinkSession> new_session(Link& l);
  void prepare(Link& l);
  void read_stdin();
  void report(int phase, double phase_start);
  void update_mask(Link& l, bool want_out);

  Options o_;
  crypto::PublicKey relay_key_{};
  sockaddr_in relay_{};
  bool aes_ = false;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::vector<Link*> links_;  // by id
  std::vector<Attempt> attempts_;
  int ep_ = -1;
  int phase_ = -1;  // -1 waiting for go, 0 initial, 1 storm
  double phase_start_[2] = {0, 0};
  double all_up_at_[2] = {0, 0};  // every link of every agent up
  double cpu_at_start_[2] = {0, 0}, cpu_at_all_[2] = {0, 0};
  double restarted_at_ = 0;  // from the driver
  int links_up_ = 0;
  int dropped_after_all_[2] = {0, 0};  // links that ended after every link was up in the phase
  std::string stdin_buf_;
  bool stdin_open_ = true;
};

bool Storm::setup() {
  auto key = crypto::PublicKey::from_base64(o_.relay_key);
  if (!key) {
    std::fprintf(stderr, "bench_storm: --relay-key: not a base64 key\n");
    return false;
  }
  relay_key_ = *key;
  const auto colon = o_.relay.rfind(':');
  relay_.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, o_.relay.substr(0, colon).c_str(), &relay_.sin_addr) != 1) {
    std::fprintf(stderr, "bench_storm: --relay must be IPv4:PORT\n");
    return false;
  }
  relay_.sin_port = htons(static_cast<std::uint16_t>(std::atoi(o_.relay.c_str() + colon + 1)));
  // What agent.toml's cipher = "auto" offers on this CPU (agent/cipher_choice).
  aes_ = crypto::aes_gcm_accelerated();

  // 1,000 agents need a socket per link and then some for the retries in flight.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(o_.agents) * static_cast<rlim_t>(o_.links) + 64) {
    std::fprintf(stderr, "bench_storm: open files limited to %llu, too few for %d agents\n",
                 static_cast<unsigned long long>(rl.rlim_cur), o_.agents);
    return false;
  }

  // Each agent its own loopback address (127.1.x.y), as laptops behind their own addresses are;
  // the last o_.nat share 127.2.0.1, one office NAT. The relay's per-source limits then see them as
  // it would see real agents.
  std::ofstream f(o_.agents_file);
  f << "# bench_storm: " << o_.agents << " simulated agents\n";
  for (int i = 0; i < o_.agents; ++i) {
    auto a = std::make_unique<Agent>();
    a->index = i;
    a->nat = i >= o_.agents - o_.nat;
    a->key = crypto::SecretKey::generate();
    a->source.sin_family = AF_INET;
    const std::uint32_t ip = a->nat ? (127u << 24 | 2u << 16 | 1u)
                                    : (127u << 24 | 1u << 16 | static_cast<std::uint32_t>(i / 250) << 8 |
                                       static_cast<std::uint32_t>(i % 250 + 1));
    a->source.sin_addr.s_addr = htonl(ip);
    for (int k = 0; k < o_.links; ++k) {
      auto l = std::make_unique<Link>();
      l->agent = a.get();
      l->slot = k;
      l->id = static_cast<std::uint32_t>(links_.size());
      l->events = std::make_unique<Events>(*l);
      links_.push_back(l.get());
      a->links.push_back(std::move(l));
    }
    char name[32];
    std::snprintf(name, sizeof name, "storm-%04d%s", i, a->nat ? "-nat" : "");
    f << "[[agents]]\nname = \"" << name << "\"\npublic_key = \"" << a->key.public_key().to_base64()
      << "\"\n";
    agents_.push_back(std::move(a));
  }
  f.close();
  if (!f) {
    std::fprintf(stderr, "bench_storm: cannot write %s\n", o_.agents_file.c_str());
    return false;
  }
  for (Link* l : links_) prepare(*l);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  return ep_ >= 0;
}

// LinkPool::may_connect: a link other than the primary connects only while the primary is up, and
// one link of the pool at a time.
bool Storm::may_connect(const Link& l) const {
  const Agent& a = *l.agent;
  if (l.slot != 0 && a.links[0]->state != Link::State::Up) return false;
  for (const auto& other : a.links)
    if (other.get() != &l &&
        (other->state == Link::State::Connecting || other->state == Link::State::Handshaking))
      return false;
  return true;
}

// LinkPool::on_change: a link came up or an attempt ended, so a parked link may take its turn.
void Storm::pool_changed(Agent& a) {
  for (auto& l : a.links)
    if (l->state == Link::State::Parked && may_connect(*l)) start_attempt(*l);
}

void Storm::update_mask(Link& l, bool want_out) {
  if (l.fd < 0 || l.want_out == want_out) return;
  l.want_out = want_out;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.u32 = l.id;
  epoll_ctl(ep_, EPOLL_CTL_MOD, l.fd, &ev);
}

void Storm::start_attempt(Link& l) {
  if (!may_connect(l)) {
    l.state = Link::State::Parked;
    return;
  }
  l.attempt_start = mono_s();
  l.attempt_phase = phase_;
  l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  l.state = Link::State::Connecting;
  if (l.fd < 0) return fail_attempt(l, Outcome::Other);
  const int one = 1;
  // The port is chosen at connect(), per destination: the NAT's agents can share their address.
  setsockopt(l.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(l.fd, reinterpret_cast<const sockaddr*>(&l.agent->source), sizeof l.agent->source) != 0) {
    std::fprintf(stderr, "bench_storm: bind: %s\n", std::strerror(errno));
    return fail_attempt(l, Outcome::Other);
  }
  l.connect_deadline = l.attempt_start + static_cast<double>(kConnectTimeoutMs) / 1000;
  l.want_out = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u32 = l.id;
  epoll_ctl(ep_, EPOLL_CTL_ADD, l.fd, &ev);
  if (::connect(l.fd, reinterpret_cast<const sockaddr*>(&relay_), sizeof relay_) != 0 && errno != EINPROGRESS)
    return fail_attempt(l, errno == ECONNREFUSED ? Outcome::Refused : Outcome::Other);
}

void Storm::drop_socket(Link& l) {
  if (l.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, l.fd, nullptr);
    ::close(l.fd);
  }
  l.fd = -1;
  l.session.reset();
  l.closed.reset();
  l.established_now = false;
  l.out.clear();
  l.out_off = 0;
  l.want_out = false;
}

// The agent's schedule_reconnect(): at once, or the backoff step jittered x0.5 .. x1.5, after which
// the step doubles up to its cap. Then the pool hears that this link's attempt is over.
void Storm::schedule(Link& l, bool at_once) {
  const double jitter = 0.5 + static_cast<double>(randombytes_uniform(1000)) / 1000.0;
  const double delay_ms = at_once ? 0 : static_cast<double>(l.backoff_ms) * jitter;
  if (!at_once) l.backoff_ms = std::min(l.backoff_ms * 2, l.held ? kHeldBackoffMaxMs : kBackoffMaxMs);
  l.state = Link::State::Waiting;
  l.retry_at = mono_s() + delay_ms / 1000;
  prepare(l);
  pool_changed(*l.agent);
}

void Storm::fail_attempt(Link& l, Outcome why) {
  // The primary's cipher choice: message 1 went out and no answer came, so "auto" falls back from
  // AES-256-GCM to ChaCha20-Poly1305, and after a ChaCha20-Poly1305 failure offers AES again.
  if (l.slot == 0 && l.session && l.session->handshake_begun())
    l.agent->aes_unanswered = l.offered == crypto::CipherSuite::AesGcm;
  attempts_.push_back({l.agent->index, l.slot, l.attempt_phase, l.attempt_start, mono_s(), why});
  drop_socket(l);
  // Nothing listens: the relay's sessions went with its process, so nothing is held any more.
  if (why == Outcome::Refused) l.held = false;
  schedule(l, false);
}

void Storm::lost_link(Link& l) {
  // Before the driver's "restarting", or after everything was back: the relay dropped a link itself.
  if (phase_ >= 0 && all_up_at_[phase_] > 0) ++dropped_after_all_[phase_];
  --links_up_;
  --l.agent->up;
  drop_socket(l);
  // The real agent holds a lost link's streams when some were open, and then reconnects at once;
  // an idle one waits its first backoff step (agent/link_client.cpp, on_closed).
  l.held = o_.at_once;
  schedule(l, o_.at_once);
}

void Storm::flush(Link& l) {
  if (l.session && l.session->has_output() && l.out_off == l.out.size()) {
    l.out.clear();
    l.out_off = 0;
    l.session->produce(l.out, 64 * 1024);
  }
  while (l.out_off < l.out.size()) {
    const ssize_t n = ::send(l.fd, l.out.data() + l.out_off, l.out.size() - l.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (l.session) l.session->abort(Error{Errc::Io, "write", errno});
      return;
    }
    l.out_off += static_cast<std::size_t>(n);
    if (l.out_off == l.out.size() && l.session && l.session->has_output()) {
      l.out.clear();
      l.out_off = 0;
      l.session->produce(l.out, 64 * 1024);
    }
  }
  update_mask(l, l.out_off < l.out.size());
}

// What a call into the session left: message 2 verified, the link ended, output to write.
void Storm::after_session_call(Link& l) {
  if (l.established_now) {
    l.established_now = false;
    l.state = Link::State::Up;
    const double now = mono_s();
    l.backoff_ms = kBackoffFirstMs;
    l.held = false;
    if (l.slot == 0) l.agent->aes_unanswered = false;
    l.last_session = l.session->session_id();
    attempts_.push_back({l.agent->index, l.slot, l.attempt_phase, l.attempt_start, now, Outcome::Linked,
                         l.connected_at - l.attempt_start, l.message2_at - l.message1_at});
    ++l.agent->up;
    if (++links_up_ == o_.agents * o_.links && phase_ >= 0 && all_up_at_[phase_] == 0) {
      all_up_at_[phase_] = now;
      cpu_at_all_[phase_] = cpu_s();
      std::printf("{\"event\":\"linked\",\"phase\":\"%s\",\"seconds\":%.3f}\n",
                  phase_ == 0 ? "initial" : "storm", now - phase_start_[phase_]);
      std::fflush(stdout);
    }
    if (!l.closed) flush(l);
    if (!l.closed) pool_changed(*l.agent);  // the next link of the pool may connect now
  }
  if (!l.closed) flush(l);
  if (l.closed) {
    const Error why = *l.closed;
    if (l.state == Link::State::Up) return lost_link(l);
    Outcome o = Outcome::Other;
    if (why.code == Errc::Truncated || (why.code == Errc::Io && (why.sys == ECONNRESET || why.sys == EPIPE)))
      o = Outcome::Closed;
    else if (why.code == Errc::Timeout)
      o = Outcome::HandshakeTimeout;
    if (o == Outcome::Other)
      std::fprintf(stderr, "bench_storm: agent %d link %d: %s (%s, %d)\n", l.agent->index, l.slot,
                   errc_name(why.code), why.what, why.sys);
    fail_attempt(l, o);
  }
}

// The session of an attempt, its message 1 written (LinkSession::start). The suite and the session to
// resume are the agent's choice at the time: after the last attempt's outcome.
std::unique_ptr<link::LinkSession> Storm::new_session(Link& l) {
  const Agent& a = *l.agent;
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Initiator;
  c.static_key = &a.key;
  c.peer_key = relay_key_;
  // A secondary follows what the primary's relay listed (it is up, so that relay answered).
  const bool aes =
      aes_ && (l.slot == 0 ? !a.aes_unanswered : a.links[0]->offered == crypto::CipherSuite::AesGcm);
  c.suite = l.offered = aes ? crypto::CipherSuite::AesGcm : crypto::CipherSuite::ChaChaPoly;
  c.mux.max_streams = 1 << 20;
  c.resumable = true;
  c.takes_routes = true;
  if (l.held) c.resume = l.last_session;
  auto session = std::make_unique<link::LinkSession>(std::move(c), *l.events);
  session->start(link::Instant{0});
  return session;
}

// One process simulates 1,000 agents, whose message 1 each costs three X25519 (the ephemeral key, es,
// ss): written at connect time, one after another, they would spread the storm over this program's
// CPU time (a third of a second per 1,000) and count that wait in every handshake, where real agents
// compute theirs in parallel. So the primary writes its next message 1 while it waits to connect;
// its timestamp is then that moment's, up to a backoff step older than the agent's would be, which
// the relay takes as long as it is newer than the key's last (it is) and within 2 minutes of the
// relay's start. The other links of a pool write theirs when they connect, as the agent does (and
// the primary's prepared one is then dropped: it is older). A secondary may connect before the
// primary has noticed its own loss: both ended at once, in whichever order.
void Storm::prepare(Link& l) {
  l.prepared.reset();
  if (o_.precompute && l.slot == 0) l.prepared = new_session(l);
}

void Storm::on_event(Link& l, std::uint32_t ev) {
  if (l.fd < 0) return;
  if (l.state == Link::State::Connecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(l.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail_attempt(l, err == ECONNREFUSED ? Outcome::Refused : Outcome::Closed);
    // Connected: message 1 goes out now, as the agent's LinkConnection sends it.
    l.connected_at = mono_s();
    l.clock_base = now_ms();
    l.session = l.prepared ? std::move(l.prepared) : new_session(l);
    // Another link's message 1 written now is newer than the primary's prepared one, which the relay
    // would then refuse as a replay; the primary writes a new one when it connects.
    if (l.slot != 0) l.agent->links[0]->prepared.reset();
    l.state = Link::State::Handshaking;
    l.next_tick = mono_s() + static_cast<double>(kTickMs) / 1000;
    l.message2_at = 0;
    after_session_call(l);
    l.message1_at = mono_s();
    return;
  }
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    static std::uint8_t buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::recv(l.fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (l.message2_at == 0) l.message2_at = mono_s();
        l.session->receive(MutByteSpan(buf, static_cast<std::size_t>(n)), session_now(l));
        if (l.closed || l.established_now) after_session_call(l);
        if (l.fd < 0 || !l.session) return;
        continue;
      }
      if (n == 0) {
        l.session->eof();
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        l.session->abort(Error{Errc::Io, "read", errno});
      }
      return after_session_call(l);
    }
  }
  after_session_call(l);
}

void Storm::read_stdin() {
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0) stdin_open_ = false;
    if (n <= 0) break;
    stdin_buf_.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t nl;
  while ((nl = stdin_buf_.find('\n')) != std::string::npos) {
    const std::string line = stdin_buf_.substr(0, nl);
    stdin_buf_.erase(0, nl + 1);
    if (line == "go" && phase_ < 0) {
      phase_ = 0;
      phase_start_[0] = mono_s();
      cpu_at_start_[0] = cpu_s();
      // Every agent at once, like a cold start; each pool's other links park until its primary is up.
      for (auto& a : agents_)
        for (auto& l : a->links) start_attempt(*l);
    } else if (line == "restarting" && phase_ == 0) {
      // The driver is about to stop the relay: what ends from now on is the storm.
      phase_ = 1;
      phase_start_[1] = mono_s();
      cpu_at_start_[1] = cpu_s();
    } else if (line.rfind("restarted ", 0) == 0) {
      restarted_at_ = std::strtod(line.c_str() + 10, nullptr);
    }
  }
  if (!stdin_open_) epoll_ctl(ep_, EPOLL_CTL_DEL, 0, nullptr);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

void Storm::report(int phase, double phase_start) {
  const double from = phase == 1 && restarted_at_ > 0 ? restarted_at_ : phase_start;
  // Two groups: everyone, and the agents behind the one NAT address.
  for (int group = 0; group < 2; ++group) {
    const bool nat_only = group == 1;
    std::vector<double> hs, connect, reply;
    int counts[6] = {};
    int after_up_failures = 0;
    std::vector<int> tries(agents_.size(), 0), failed(agents_.size(), 0);
    // When each agent had its first link of the phase (it works), and its last (its whole pool).
    std::vector<double> first_up(agents_.size(), 0), last_up(agents_.size(), 0);
    for (const Attempt& t : attempts_) {
      if (t.phase != phase || (nat_only && !agents_[t.agent]->nat)) continue;
      counts[static_cast<int>(t.outcome)]++;
      ++tries[t.agent];
      if (t.outcome == Outcome::Linked) {
        hs.push_back((t.end - t.start) * 1000);
        connect.push_back(t.connect_s * 1000);
        reply.push_back(t.reply_s * 1000);
        if (first_up[t.agent] == 0 || t.end < first_up[t.agent]) first_up[t.agent] = t.end;
        last_up[t.agent] = std::max(last_up[t.agent], t.end);
      } else {
        ++failed[t.agent];
        // A failure the relay's limits caused, not the relay's absence: the attempt began once it
        // accepted again.
        if (t.outcome != Outcome::Refused && (phase == 0 || t.start >= restarted_at_)) ++after_up_failures;
      }
    }
    int members = 0, retried = 0, linked = 0, whole = 0, max_tries = 0;
    double agents_at = 0, links_at = 0;
    for (const auto& a : agents_) {
      if (nat_only && !a->nat) continue;
      ++members;
      if (failed[a->index] > 0) ++retried;
      if (a->up > 0) ++linked;
      if (a->up == o_.links) ++whole;
      max_tries = std::max(max_tries, tries[a->index]);
      agents_at = std::max(agents_at, first_up[a->index]);
      links_at = std::max(links_at, last_up[a->index]);
    }
    const bool all = linked == members;
    const bool all_links = whole == members;
    const std::size_t total =
        static_cast<std::size_t>(counts[0] + counts[1] + counts[2] + counts[3] + counts[4] + counts[5]);
    std::printf(
        "{\"event\":\"result\",\"phase\":\"%s\",\"group\":\"%s\",\"agents\":%d,\"links\":%d,\"linked\":%d,"
        "\"all_linked\":%s,\"seconds_to_all\":%.3f,\"all_links_up\":%s,\"seconds_to_all_links\":%.3f,"
        "\"seconds_from_phase_start\":%.3f,"
        "\"handshake_ms\":{\"n\":%zu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
        "\"connect_ms\":{\"p50\":%.1f,\"p99\":%.1f},\"reply_ms\":{\"p50\":%.1f,\"p99\":%.1f},"
        "\"attempts\":%zu,\"failed\":{\"refused\":%d,\"closed\":%d,\"connect_timeout\":%d,"
        "\"handshake_timeout\":%d,\"other\":%d},\"failed_after_up\":%d,\"agents_retried\":%d,"
        "\"max_attempts\":%d,\"dropped_after_linked\":%d,\"at_once\":%s,\"bench_cpu_s\":%.3f}\n",
        phase == 0 ? "initial" : "storm", nat_only ? "nat" : "all", members, o_.links, linked,
        all ? "true" : "false", all ? agents_at - from : -1.0, all_links ? "true" : "false",
        all_links ? links_at - from : -1.0, all ? agents_at - phase_start : -1.0, hs.size(),
        percentile(hs, 50), percentile(hs, 90), percentile(hs, 99), percentile(hs, 100),
        percentile(connect, 50), percentile(connect, 99), percentile(reply, 50), percentile(reply, 99), total,
        counts[1], counts[2], counts[3], counts[4], counts[5], after_up_failures, retried, max_tries,
        nat_only ? 0 : dropped_after_all_[phase], o_.at_once ? "true" : "false",
        cpu_at_all_[phase] > 0 ? cpu_at_all_[phase] - cpu_at_start_[phase] : -1.0);
  }
  std::fflush(stdout);
}

int Storm::run() {
  if (!setup()) return 2;
  std::printf(
      "{\"event\":\"keys\",\"agents\":%d,\"nat\":%d,\"links\":%d,\"agents_file\":\"%s\",\"aes\":%s}\n",
      o_.agents, o_.nat, o_.links, o_.agents_file.c_str(), aes_ ? "true" : "false");
  std::fflush(stdout);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u32 = 0xffffffffu;
  epoll_ctl(ep_, EPOLL_CTL_ADD, 0, &sev);

  // Bounded: past the deadline the program reports what it has and fails, never hangs.
  const double deadline = mono_s() + o_.deadline_s;
  std::vector<epoll_event> evs(1024);
  bool done = false;
  while (!done) {
    const double now = mono_s();
    if (now >= deadline) break;
    double next = std::min(deadline, now + static_cast<double>(kTickMs) / 1000);
    for (Link* lp : links_) {
      Link& l = *lp;
      switch (l.state) {
        case Link::State::Waiting:
          if (l.retry_at <= now)
            start_attempt(l);
          else
            next = std::min(next, l.retry_at);
          break;
        case Link::State::Connecting:
          if (l.connect_deadline <= now)
            fail_attempt(l, Outcome::ConnectTimeout);
          else
            next = std::min(next, l.connect_deadline);
          break;
        case Link::State::Handshaking:
        case Link::State::Up:
          if (l.next_tick <= now) {
            l.next_tick = now + static_cast<double>(kTickMs) / 1000;
            l.session->tick(session_now(l));
            after_session_call(l);
          }
          if (l.fd >= 0) next = std::min(next, l.next_tick);
          break;
        case Link::State::Idle:
        case Link::State::Parked:
          break;
      }
    }
    // The storm is over once every link is up again, the driver has said when its relay came back,
    // and the links have stayed up a moment (a relay that drops them would show here).
    if (phase_ == 1 && all_up_at_[1] > 0 && restarted_at_ > 0 && mono_s() - all_up_at_[1] >= o_.settle_s)
      done = true;
    if (!stdin_open_ && phase_ < 0) break;  // the driver went away before "go"
    const int wait_ms = std::max(0, static_cast<int>(std::ceil((next - mono_s()) * 1000)));
    const int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), done ? 0 : wait_ms);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u32 == 0xffffffffu) {
        read_stdin();
        continue;
      }
      on_event(*links_[evs[i].data.u32], evs[i].events);
    }
  }
  if (phase_ >= 0) report(0, phase_start_[0]);
  if (phase_ >= 1) report(1, phase_start_[1]);
  const bool ok = phase_ == 1 && all_up_at_[1] > 0 && links_up_ == o_.agents * o_.links;
  if (!ok)
    std::printf("{\"event\":\"failed\",\"phase\":%d,\"links_up\":%d,\"links\":%d,\"restarted\":%s}\n", phase_,
                links_up_, o_.agents * o_.links, restarted_at_ > 0 ? "true" : "false");
  std::fflush(stdout);
  for (Link* l : links_) drop_socket(*l);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 2;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_storm: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--relay")
      o.relay = value();
    else if (arg == "--relay-key")
      o.relay_key = value();
    else if (arg == "--agents-file")
      o.agents_file = value();
    else if (arg == "--agents")
      o.agents = std::atoi(value().c_str());
    else if (arg == "--nat")
      o.nat = std::atoi(value().c_str());
    else if (arg == "--links")
      o.links = std::atoi(value().c_str());
    else if (arg == "--no-precompute")
      o.precompute = false;
    else if (arg == "--reconnect")
      o.at_once = value() == "at-once";
    else if (arg == "--deadline-s")
      o.deadline_s = std::atof(value().c_str());
    else if (arg == "--settle-ms")
      o.settle_s = std::atof(value().c_str()) / 1000;
    else {
      std::fprintf(stderr,
                   "usage: bench_storm --relay IP:PORT --relay-key BASE64 --agents-file FILE [--agents 1000] "
                   "[--nat 20] [--links 1] [--no-precompute] [--reconnect at-once|backoff] [--deadline-s 60] "
                   "[--settle-ms 1000]\n");
      return 2;
    }
  }
  if (o.relay.empty() || o.relay_key.empty() || o.agents_file.empty() || o.agents < 1 || o.nat < 0 ||
      o.nat > o.agents || o.agents > 250 * 250 || o.links < 1 || o.links > 8) {
    std::fprintf(stderr,
                 "bench_storm: --relay, --relay-key and --agents-file are required; 0 <= nat <= agents\n");
    return 2;
  }
  return Storm(std::move(o)).run();
}
