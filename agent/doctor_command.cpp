#include "agent/doctor_command.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "agent/doctor_report.hpp"
#include "agent/egress_check.hpp"
#include "agent/link_client.hpp"
#include "agent/local_page.hpp"
#include "agent/one_stream.hpp"
#include "agent/setup_commands.hpp"
#include "common/codec/http1_target.hpp"
#include "common/config/agent_config.hpp"
#include "common/log.hpp"
#include "common/secret_file.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Every check's name, in order: a failure skips the ones after it that depend on it.
const std::vector<std::string> kChecks = {"config",    "key file", "local ports", "relay name", "tcp",
                                          "handshake", "wire",     "rtt",         "egress",     "target"};
// A relay that takes the TCP connection but never answers message 1 is given this long.
constexpr std::uint64_t kHandshakeMs = 15'000;
constexpr int kConnectMs = 5000;
constexpr std::uint64_t kRttMs = 5000;
constexpr std::uint64_t kTargetMs = 20'000;  // above the relay's dial timeout: its verdict, not ours

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Prints each check as it is decided (text mode), so a slow one shows where it waits.
class Printer {
 public:
  Printer(const DoctorReport& r, bool json) : report_(r), json_(json) {}
  void flush() {
    if (json_) return;
    for (; printed_ < report_.checks().size(); ++printed_)
      std::fputs(DoctorReport::line(report_.checks()[printed_]).c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  const DoctorReport& report_;
  bool json_;
  std::size_t printed_ = 0;
};

std::string config_path(const std::string& given) {
  if (!given.empty()) return given;
  if (::access("agent.toml", R_OK) == 0) return "agent.toml";
  return default_config_dir() + "/agent.toml";
}

// Binds `listen` as the agent would; 0 when it could, else the errno.
int try_bind(const std::string& listen) {
  auto addr = uv::parse_socket_address(listen);
  if (!addr) return EINVAL;
  const int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as libuv does: TIME_WAIT is no conflict
  const socklen_t len = addr->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  const int r = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), len) == 0 ? 0 : errno;
  ::close(fd);
  return r;
}

void check_ports(const config::AgentConfig& cfg, DoctorReport& report) {
  std::string found, trouble;
  for (const auto* listen : {&cfg.http_listen, &cfg.socks_listen}) {
    if (!*listen) continue;
    const std::string& at = **listen;
    const int err = try_bind(at);
    std::string what;
    if (err == 0) {
      what = at + " free";
    } else if (err == EADDRINUSE) {
      const LocalPage page = fetch_local_page(cfg, at, "/status");
      if (page.ok() && page.body.find("\"agent\":") != std::string::npos)
        what = at + " held by a running ferry-agent";
      else
        trouble = at + " is in use by another program";
    } else {
      trouble = "cannot bind " + at + ": " + std::strerror(err);
    }
    if (!trouble.empty()) break;
    found += (found.empty() ? "" : "; ") + what;
  }
  if (trouble.empty()) return report.ok("local ports", found);
  report.fail("local ports", DoctorExit::Usage, trouble,
              "stop that program, or choose another port in agent.toml ([http] or [socks] listen)");
}

struct HostPort {
  std::string host, port;
};

HostPort split_host_port(const std::string& address) {
  const auto colon = address.rfind(':');
  HostPort hp{address.substr(0, colon), address.substr(colon + 1)};
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  return hp;
}

// A TCP connection to `sa` within kConnectMs: 0, or the errno.
int connect_once(const sockaddr* sa, socklen_t len) {
  const int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  int err = ::connect(fd, sa, len) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    const int n = ::poll(&p, 1, kConnectMs);
    if (n == 0) {
      err = ETIMEDOUT;
    } else {
      socklen_t l = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    }
  }
  ::close(fd);
  return err;
}

// Checks 4 and 5. False when the relay cannot be reached (the rest is skipped).
bool check_relay_reachable(const config::AgentConfig& cfg, DoctorReport& report) {
  const HostPort hp = split_host_port(cfg.relay_address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const auto t0 = Clock::now();
  if (const int r = ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res); r != 0 || !res) {
    report.fail("relay name", DoctorExit::RelayUnreachable,
                "cannot resolve " + hp.host + ": " + (r ? ::gai_strerror(r) : "no address"),
                "check [relay] address in agent.toml, and that this network's DNS answers");
    return false;
  }
  std::string addresses;
  for (const addrinfo* a = res; a; a = a->ai_next) {
    const std::string s = uv::format_socket_address(a->ai_addr);
    if (addresses.find(s) == std::string::npos) addresses += (addresses.empty() ? "" : ", ") + s;
  }
  report.ok("relay name",
            hp.host + " resolves to " + addresses + " (" + std::to_string(ms_since(t0)) + " ms)");
  std::string tried;
  for (const addrinfo* a = res; a; a = a->ai_next) {
    const auto t1 = Clock::now();
    const int err = connect_once(a->ai_addr, a->ai_addrlen);
    const std::string where = uv::format_socket_address(a->ai_addr);
    if (err == 0) {
      ::freeaddrinfo(res);
      report.ok("tcp", "connected to " + where + " in " + std::to_string(ms_since(t1)) + " ms");
      return true;
    }
    tried += (tried.empty() ? "" : "; ") + where + ": " + std::strerror(err);
  }
  ::freeaddrinfo(res);
  report.fail("tcp", DoctorExit::RelayUnreachable, "cannot connect: " + tried,
              "is ferry-relay running and listening there? (connection refused: nothing listens; timed out: "
              "a firewall, or the wrong address or port)");
  return false;
}

// Checks 6 to 10, on an event loop, with a link of the doctor's own.
class LinkChecks {
 public:
  LinkChecks(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key,
             const DoctorOptions& options, DoctorReport& report, Printer& printer)
      : loop_(loop),
        cfg_(cfg),
        key_(key),
        options_(options),
        report_(report),
        printer_(printer),
        link_(loop, cfg, key, hooks()),
        egress_(loop, links(), cfg) {
    // Under cipher = "auto" an unanswered offer of AES-256-GCM is retried with ChaCha20-Poly1305
    // (a relay without it looks exactly like that), so "not answered" takes two attempts.
    max_attempts_ = cfg.cipher ? 1 : 2;
  }

  void start() {
    timer_.init(uv_timer_init, loop_, this);
    started_ = Clock::now();
    link_.start();
    uv_timer_start(
        timer_.get(), [](uv_timer_t* t) { static_cast<LinkChecks*>(t->data)->step(); }, 20, 20);
  }

 private:
  enum class Phase { Handshake, Rtt, Egress, Target, Done };

  LinkPoolHooks hooks() {
    LinkPoolHooks h;
    h.may_connect = [this] { return phase_ == Phase::Handshake && attempts_++ < max_attempts_; };
    return h;
  }
  OneStream::Links links() {
    return {[this](const Target& t, link::StreamHandler* h) { link_.open(t, h); },
            [this](link::StreamHandler* h) { link_.cancel(h); }};
  }

  void step() {
    switch (phase_) {
      case Phase::Handshake:
        return handshake();
      case Phase::Rtt:
        return rtt();
      case Phase::Egress:
      case Phase::Target:
      case Phase::Done:
        return;  // their callbacks move on
    }
  }

  void handshake() {
    const LinkStatus s = link_.status();
    if (link_.up()) {
      report_.ok("handshake", "answered in " + std::to_string(ms_since(started_)) +
                                  " ms (with the TCP connection): the relay knows this agent");
      report_.ok("wire", "version " + std::to_string(s.wire_version) +
                             (s.wire_version >= 2
                                  ? " (streams survive a lost link for " + std::to_string(s.grace_s) + " s)"
                                  : " (no stream resumption)") +
                             ", cipher " + s.cipher);
      printer_.flush();
      phase_ = Phase::Rtt;
      phase_started_ = Clock::now();
      link_.probe();  // a PING answered at once gives the RTT
      return;
    }
    const bool gave_up = attempts_ >= max_attempts_ && !link_.connecting() && s.state == "down";
    if (!gave_up && ms_since(started_) < static_cast<long long>(kHandshakeMs)) return;
    const std::string why = s.last_error.empty()
                                ? "no answer within " + std::to_string(kHandshakeMs / 1000) + " s"
                                : s.last_error;
    report_.fail("handshake", DoctorExit::NoHandshake, "the relay did not answer the handshake (" + why + ")",
                 "either [relay] public_key is not this relay's key (its operator can print it with "
                 "`ferry-relay pubkey --key relay.key`), or this agent is not enrolled. Send the relay "
                 "operator this line: ferry-relay enroll --config relay.toml --name NAME --pubkey " +
                     key_.public_key().to_base64());
    finish();
  }

  void rtt() {
    const LinkStatus s = link_.status();
    // up() is false while the probe waits for its answer; the link is alive as long as it has a mux.
    if (s.rtt_ms && link_.up()) {
      report_.ok("rtt", std::to_string(*s.rtt_ms) + " ms");
      printer_.flush();
      return egress();
    }
    if (link_.mux() != nullptr && ms_since(phase_started_) < static_cast<long long>(kRttMs)) return;
    report_.fail("rtt", DoctorExit::NoHandshake,
                 "the link did not answer a PING" + (s.last_error.empty() ? "" : " (" + s.last_error + ")"),
                 "the path to the relay drops packets or the relay is overloaded; run the doctor again");
    finish();
  }

  void egress() {
    phase_ = Phase::Egress;
    if (cfg_.egress_check_url.empty()) {
      report_.skip("egress", "no [relay] egress_check_url in agent.toml",
                   "set it to an http:// URL that answers with the caller's IP address (and expected_egress "
                   "to the office's address) to check which address the targets see");
      printer_.flush();
      return target();
    }
    egress_.run([this](const EgressReport& r) {
      if (r.matches())
        report_.ok("egress", r.summary() + ", says " + cfg_.egress_check_url);
      else if (!r.error.empty())
        report_.fail("egress", DoctorExit::Egress, r.error,
                     "the check goes through the relay like any stream: its policy must allow " +
                         cfg_.egress_check_url + ", and that URL must answer with the caller's address");
      else
        report_.fail("egress", DoctorExit::Egress,
                     "the target sees you as " + r.address + ", but expected_egress is " + r.expected,
                     "the relay does not leave from the office's whitelisted address: check its egress_bind "
                     "and the office's routing, or update expected_egress");
      printer_.flush();
      target();
    });
  }

  void target() {
    phase_ = Phase::Target;
    if (options_.target.empty()) {
      report_.skip("target", "no --target HOST:PORT given");
      return finish();
    }
    auto t = http1::parse_authority_form(options_.target);
    stream_ = std::make_unique<OneStream>(loop_, links());
    const std::string name = t->target.to_string();
    stream_->start(
        t->target, "", kTargetMs, [](std::string_view, bool) { return true; },
        [this, name](const OneStream::Outcome& o) { target_verdict(name, o); });
  }

  void target_verdict(const std::string& name, const OneStream::Outcome& o) {
    if (o.open.code == frame::OpenCode::Ok) {
      report_.ok("target", name + ": allowed; the relay connected to it");
      return finish();
    }
    // What the relay's answer means for the user, and what to do about it.
    struct Verdict {
      frame::OpenCode code;
      const char* words;
      const char* advice;
    };
    static constexpr Verdict kVerdicts[] = {
        {frame::OpenCode::Denied, "denied by the relay's policy",
         "ask the relay operator to allow it (relay.toml [policy] rules)"},
        {frame::OpenCode::NameNotResolved, "not resolved by the relay",
         "the name must resolve in the office (the relay resolves it, not this laptop)"},
        {frame::OpenCode::Refused, "connection refused by the target",
         "nothing listens on that port, as seen from the relay"},
        {frame::OpenCode::Timeout, "timed out",
         "the target does not answer the relay: a firewall, or the wrong address"},
    };
    std::string words = frame::open_code_name(o.open.code),
                advice = "see the relay's audit log for this stream";
    for (const Verdict& v : kVerdicts)
      if (v.code == o.open.code) words = v.words, advice = v.advice;
    report_.fail("target", DoctorExit::Target,
                 name + ": " + words + (o.open.reason.empty() ? "" : " (" + o.open.reason + ")"), advice);
    finish();
  }

  // Ends the run: everything closed, so the loop ends (doctor_command() adds the skipped checks).
  void finish() {
    phase_ = Phase::Done;
    printer_.flush();
    timer_.close();
    egress_.close({});
    if (stream_) stream_->close({});
    link_.stop({});
  }

  uv_loop_t* loop_;
  const config::AgentConfig& cfg_;
  const crypto::SecretKey& key_;
  const DoctorOptions& options_;
  DoctorReport& report_;
  Printer& printer_;
  LinkClient link_;
  EgressCheck egress_;
  std::unique_ptr<OneStream> stream_;
  Phase phase_ = Phase::Handshake;
  int attempts_ = 0;
  int max_attempts_ = 2;
  Clock::time_point started_, phase_started_;
  uv::HandleGroup handles_;
  uv::Handle<uv_timer_t> timer_{handles_};
};

}  // namespace

int doctor_command(const DoctorOptions& options) {
  if (!options.target.empty() && !http1::parse_authority_form(options.target)) {
    std::fprintf(stderr, "--target must be HOST:PORT, e.g. db.internal:5432 (got \"%s\")\n",
                 options.target.c_str());
    return static_cast<int>(DoctorExit::Usage);
  }
  // The doctor's own link logs nothing below errors: the report says what happened.
  if (!log::enabled(log::Level::Debug)) log::set_level(log::Level::Error);
  DoctorReport report;
  Printer printer(report, options.json);
  const std::string path = config_path(options.config);
  if (!options.json) std::printf("ferry-agent doctor: %s\n", path.c_str());
  const auto done = [&] {
    for (const DoctorCheck& c : report.checks())
      if (c.status == DoctorCheck::Status::Fail) {
        report.skip_rest(kChecks, c.name);
        break;
      }
    printer.flush();
    if (options.json)
      std::fputs(report.json().c_str(), stdout);
    else
      std::printf("%s\n", report.summary().c_str());
    return report.exit_code();
  };

  config::AgentConfig cfg;
  if (auto err = config::load_agent_config(path, cfg)) {
    report.fail(
        "config", DoctorExit::Usage, err->to_string(),
        "fix the key named above (docs: ferry-agent(1), FILES); `ferry-agent init` writes a fresh one");
    return done();
  }
  report.ok("config", path + " parses; relay " + cfg.relay_address);
  printer.flush();

  // The key, the ports and the path to the relay do not depend on each other: each is checked, and
  // the link's checks need the key and the relay.
  std::string refusal;
  auto key = crypto::read_key_file(cfg.private_key_file, KeyOwner::Self, &refusal);
  if (!key)
    report.fail("key file", DoctorExit::Usage,
                cfg.private_key_file + ": " + (refusal.empty() ? describe(key.error()) : refusal),
                refusal.empty()
                    ? "create it with: ferry-agent keygen --out " + shell_word(cfg.private_key_file) +
                          " (then have it enrolled at the relay)"
                    : "fix the permissions as the line above says");
  else
    report.ok("key file",
              cfg.private_key_file + " (owner only); public key " + key->public_key().to_base64());
  printer.flush();
  check_ports(cfg, report);
  printer.flush();
  if (!check_relay_reachable(cfg, report) || !key) return done();
  printer.flush();

  {
    uv::Loop loop;
    LinkChecks checks(loop.get(), cfg, *key, options, report, printer);
    checks.start();
    loop.run();
  }
  return done();
}

}  // namespace ferry::agent
