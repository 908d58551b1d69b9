#include "relay/relay_server.hpp"

#include <ifaddrs.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/link/session_words.hpp"
#include "common/log.hpp"
#include "common/policy/address.hpp"
#include "common/policy/local_addresses.hpp"
#include "common/routes/route_list.hpp"
#include "common/uv/loop.hpp"

namespace ferry::relay {
namespace {

// relay.toml's routes as the frame carries them (the configuration holds them canonical already),
// versioned with the policy too: an agent's warm targets go cold when a reload changes what this
// relay would dial (docs/protocol.md 4.14). Every agent's own rules count, each under its name.
frame::Routes routes_of(const config::RelayConfig& cfg) {
  std::vector<routes::Route> parsed;
  for (const std::string& text : cfg.routes_through)
    if (auto r = routes::parse_route(text)) parsed.push_back(std::move(*r));
  std::vector<std::string> policy;
  if (!cfg.policy_rules.empty()) policy.push_back("[policy]");
  policy.insert(policy.end(), cfg.policy_rules.begin(), cfg.policy_rules.end());
  for (const auto& a : cfg.agents) {
    if (a.rules.empty()) continue;
    policy.push_back("[[agents]] " + a.name);
    policy.insert(policy.end(), a.rules.begin(), a.rules.end());
  }
  return frame::Routes{routes::version_of(parsed, policy), cfg.routes_through};
}

std::vector<routes::Route> trusted_of(const config::RelayConfig& cfg) {
  std::vector<routes::Route> out;
  for (const std::string& text : cfg.proxy_trusted)  // checked when relay.toml was read
    if (auto r = routes::parse_route(text)) out.push_back(std::move(*r));
  return out;
}

}  // namespace

RelayShared::RelayShared(const config::RelayConfig& cfg, std::size_t workers)
    : agents(cfg.agents), placement(workers, RelayServer::kMaxUnauthenticated) {
  agents.set_buffer_limit(static_cast<std::uint64_t>(cfg.max_buffered_mib_per_agent) << 20);
}

RelayServer::RelayServer(uv_loop_t* loop, std::size_t worker, config::RelayConfig config,
                         const crypto::SecretKey& key, RelayShared& shared)
    : loop_(loop),
      worker_(worker),
      config_(std::move(config)),
      key_(key),
      shared_(shared),
      sessions_(shared.sessions, worker),
      listener_(loop, [this](uv_stream_t* s) { on_connection(s); }) {
  ctx_.loop = loop;
  ctx_.key = &key_;
  ctx_.agents = &shared_.agents;
  ctx_.audit = &shared_.audit;
  ctx_.refusal_log = &shared_.refusal_log;
  ctx_.metrics = &shared_.metrics;
  policy_->state = build_policy(config_);
  ctx_.policy = policy_hooks(policy_);
  proxy_trusted_ = trusted_of(config_);
  ctx_.dial.connect_timeout_ms = static_cast<std::uint64_t>(config_.connect_timeout_ms);
  if (!config_.egress_bind.empty()) {
    sockaddr_storage ss{};
    if (uv_ip4_addr(config_.egress_bind.c_str(), 0, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
        uv_ip6_addr(config_.egress_bind.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&ss)) == 0)
      ctx_.dial.egress = ss;
  }
  ctx_.idle_timeout_ms = static_cast<std::uint64_t>(config_.idle_timeout_s) * 1000;
  ctx_.max_streams = static_cast<std::size_t>(config_.max_streams_per_agent);
  ctx_.handshake_timeout = link::Millis(config_.handshake_timeout_ms);
  ctx_.link_suites = config::link_suites(config_);
  ctx_.placement = &shared_.placement;
  ctx_.worker = worker_;
  ctx_.resume_grace_s = static_cast<std::uint16_t>(config_.resume_grace_s);
  ctx_.routes = routes_of(config_);
  ctx_.sessions = &sessions_;
  ctx_.move_resume = [this](const crypto::PublicKey& agent, const link::SessionId& id, int fd, Bytes message1,
                            const std::string& source, const std::string& peer) {
    move_resume(agent, id, fd, std::move(message1), source, peer);
  };
  sigterm_.init(uv_signal_init, loop_, this);
  sigint_.init(uv_signal_init, loop_, this);
  sighup_.init(uv_signal_init, loop_, this);
  drain_timer_.init(uv_timer_init, loop_, this);
  audit_timer_.init(uv_timer_init, loop_, this);
  sessions_timer_.init(uv_timer_init, loop_, this);
}

RelayServer::~RelayServer() = default;

Result<void> RelayServer::start(const std::string& listen, bool announce, bool reads_config) {
  auto addr = uv::parse_socket_address(listen);
  if (!addr) return addr.error();
  if (auto r = listener_.listen(reinterpret_cast<const sockaddr*>(&*addr), 511, true); !r) return r;
  if (announce) log::info("relay", "listening on " + listener_.local_address());
  arrivals_wake_.init(uv_async_init, loop_, this,
                      [](uv_async_t* a) { static_cast<RelayServer*>(a->data)->on_arrivals(); });
  shared_.placement.open(worker_, arrivals_wake_.get());
  placing_ = true;
  uv_signal_start(
      sigterm_.get(), [](uv_signal_t* s, int) { static_cast<RelayServer*>(s->data)->drain(); }, SIGTERM);
  uv_signal_start(
      sigint_.get(), [](uv_signal_t* s, int) { static_cast<RelayServer*>(s->data)->drain(); }, SIGINT);
  // Every worker keeps a SIGHUP handler, though only worker 0 acts on it: when the last handler for a
  // signal closes, libuv restores its default action, and a HUP would then kill a draining relay.
  reads_config_ = reads_config;
  if (reads_config) {
    refresh_local_addresses();
    uv_timer_start(
        audit_timer_.get(), [](uv_timer_t* t) { static_cast<RelayServer*>(t->data)->on_tick(); }, 1000, 1000);
  }
  uv_timer_start(
      sessions_timer_.get(), [](uv_timer_t* t) { static_cast<RelayServer*>(t->data)->sweep_sessions(); },
      1000, 1000);
  uv_signal_start(
      sighup_.get(),
      [](uv_signal_t* s, int) {
        auto* self = static_cast<RelayServer*>(s->data);
        if (self->reads_config_) self->reload();
      },
      SIGHUP);
  if (!reads_config) {
    reload_wake_.init(uv_async_init, loop_, this, [](uv_async_t* a) {
      auto* self = static_cast<RelayServer*>(a->data);
      if (auto next = self->shared_.reloads.latest()) self->apply(*next);
    });
    shared_.reloads.subscribe(reload_wake_.get());
    subscribed_ = true;
    uv_async_send(reload_wake_.get());  // a reload published before this worker subscribed
  }
  return {};
}

// The bucket a peer ("IP:PORT" or "[IPv6]:PORT") counts against, from the address's bytes: an IPv4
// address, or the /64 an IPv6 user holds (per address, each would have 2^64 buckets). An IPv4-mapped
// IPv6 peer (a dual-stack listener) counts as its IPv4 address.
std::string RelayServer::rate_source(const std::string& peer) {
  const auto ss = uv::parse_socket_address(peer);
  const auto a = ss ? policy::Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&*ss)) : std::nullopt;
  if (!a) return peer;
  const policy::Address n = a->normalised();
  return std::string(n.is_v4() ? "4" : "6") +
         std::string(reinterpret_cast<const char*>(n.bytes.data()), n.is_v4() ? 4 : 8);
}

void RelayServer::on_connection(uv_stream_t* server) {
  auto fd = uv::accept_socket(server);
  if (!fd) {  // EMFILE and friends: libuv has shed the connection rather than spin on it
    log::warn("relay", "cannot accept a connection: " + describe(fd.error()));
    return;
  }
  // Cheap refusals before any cryptography, and before a hand-over: draining, too many handshakes in
  // progress, or a source address that opens connections faster than any real agent would.
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  const bool named = ::getpeername(*fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  if (draining_ || !named) return void(::close(*fd));
  const std::string address = uv::format_socket_address(reinterpret_cast<sockaddr*>(&peer));
  // A trusted load balancer speaks first, with the agent's real address: the limits below are the
  // agent's, not the balancer's (which would be everyone's).
  if (trusted_balancer(reinterpret_cast<const sockaddr*>(&peer))) return wait_for_header(*fd, address);
  place(*fd, address, false);
}

bool RelayServer::trusted_balancer(const sockaddr* peer) const {
  if (proxy_trusted_.empty()) return false;
  const auto a = policy::Address::from_sockaddr(peer);
  return a && routes::routes_through(proxy_trusted_, a->to_target(0));
}

void RelayServer::wait_for_header(int fd, const std::string& balancer) {
  if (header_waits_.size() >= kMaxHeaderWaits) {
    shared_.metrics.handshake_failure(Metrics::HandshakeFailure::TooMany);
    return void(::close(fd));
  }
  auto wait = std::make_unique<ProxyHeaderWait>(
      loop_, fd,
      [this, balancer](int got, Result<proxy_v2::Header> header) {
        if (!header) {
          shared_.metrics.handshake_failure(Metrics::HandshakeFailure::ProxyHeaderMissing);
          if (shared_.refusal_log.note(uv_now(loop_)).log)
            log::info("relay", "connection from " + balancer +
                                   " (a trusted load balancer) closed: " + header.error().what);
          return;
        }
        if (draining_) return void(::close(got));
        // LOCAL: the balancer's own connection (a health check); its address stands.
        if (header->local) return place(got, balancer, false);
        place(got, header->source.to_string(), true);
      },
      [this](ProxyHeaderWait& gone) {
        header_waits_.erase(&gone);  // from the wait's own callback, after its handles closed
        maybe_exit();
      });
  ProxyHeaderWait* raw = wait.get();
  header_waits_.emplace(raw, std::move(wait));
  raw->start();
}

void RelayServer::place(int fd, const std::string& peer, bool proxied) {
  const std::string source = rate_source(peer);
  const auto refuse = [&](std::optional<Metrics::HandshakeFailure> why) {
    if (why) shared_.metrics.handshake_failure(*why);
    ::close(fd);
  };
  // A source at its handshakes-in-progress limit is refused before it spends a token: agents behind
  // one NAT address that arrive together would otherwise use up the burst on refusals and meet the
  // refill rate on every retry.
  if (shared_.placement.source_full(source)) return refuse(Metrics::HandshakeFailure::TooManyFromSource);
  if (!shared_.rates.take(source, uv_now(loop_))) return refuse(Metrics::HandshakeFailure::RateLimited);
  LinkPlacement::Arrival arrival{fd, source, {}, proxied ? peer : std::string()};
  switch (shared_.placement.place(worker_, arrival)) {
    case LinkPlacement::Placed::Here:
      return admit(std::move(arrival));
    case LinkPlacement::Placed::Elsewhere:
      return;
    case LinkPlacement::Placed::Evict:  // kMaxUnauthenticated handshakes on every worker that could take it
      evict_oldest_handshake();
      return admit(std::move(arrival));
    case LinkPlacement::Placed::SourceFull:
      return refuse(Metrics::HandshakeFailure::TooManyFromSource);
  }
}

// Every worker is full of handshakes in progress. Refusing the newcomer would let a flood of silent
// connections lock every agent out; the oldest silent handshake on this worker is a connection that
// has not sent a whole message 1 in all that time (one that did was answered at once), so it goes
// instead. A connection whose bytes wait unread is no such thing: when a thousand agents reconnect at
// once after a restart, the loop accepts hundreds before it reads any, and evicting those cost each
// agent a backoff step (issue 21, scenario h). With no silent one, the newcomer comes in over the
// limit: the overshoot is this burst's connections with data, each answered or closed within this
// loop iteration.
void RelayServer::evict_oldest_handshake() {
  LinkHandler* oldest = nullptr;
  for (auto& [p, h] : links_)
    if (h->handshaking() && !h->closing() && (!oldest || h->admitted() < oldest->admitted()) &&
        !h->bytes_waiting())
      oldest = p;
  if (!oldest) return;
  shared_.metrics.handshake_failure(Metrics::HandshakeFailure::Evicted);
  oldest->abort();
}

void RelayServer::on_arrivals() {
  for (auto& arrival : shared_.placement.take(worker_)) admit(std::move(arrival));
}

std::vector<LinkHandler*> RelayServer::handlers() const {
  std::vector<LinkHandler*> out;
  out.reserve(links_.size());
  for (const auto& [p, l] : links_) out.push_back(p);
  return out;
}

void RelayServer::sweep_sessions() {
  const std::uint64_t now = uv_now(loop_);
  for (LinkHandler* h : sessions_.holders())
    if (h->grace_over(now)) h->end_session("no link resumed it within resume_grace_s");
}

void RelayServer::move_resume(const crypto::PublicKey& agent, const link::SessionId& id, int fd,
                              Bytes message1, const std::string& source, const std::string& peer) {
  const auto worker = shared_.sessions.worker_of(id, agent);
  if (worker && *worker != worker_ &&
      shared_.placement.move_to(*worker, LinkPlacement::Arrival{fd, source, std::move(message1), peer})) {
    log::debug("relay", "a resume of session " + link::short_session_id(id) + " moved to worker " +
                            std::to_string(*worker));
    return;
  }
  ::close(fd);  // the session ended meanwhile, or its worker drains: the agent reconnects afresh
}

void RelayServer::admit(LinkPlacement::Arrival arrival) {
  // Past half its limit of handshakes, a worker is being flooded or an office reconnects at once: a
  // new connection then has kBusyHandshakeMs to send its message 1, which an agent does at once.
  const bool busy = shared_.placement.handshakes(worker_) > shared_.placement.max_handshakes() / 2;
  const link::Millis timeout =
      busy ? std::min(ctx_.handshake_timeout, link::Millis(kBusyHandshakeMs)) : ctx_.handshake_timeout;
  auto handler = std::make_unique<LinkHandler>(ctx_, arrival.source, timeout,
                                               [this, source = arrival.source](LinkHandler& h) {
                                                 // The handler calls this from a copy of its own, so erasing
                                                 // it is safe here.
                                                 shared_.placement.release(worker_, source, h.handshaking());
                                                 links_.erase(&h);
                                                 maybe_exit();
                                               });
  LinkHandler* raw = handler.get();
  raw->set_admitted(++admitted_);
  links_.emplace(raw, std::move(handler));
  if (auto r = raw->adopt(arrival.fd, std::move(arrival.message1), std::move(arrival.peer)); !r) {
    log::warn("relay", "cannot accept a connection: " + describe(r.error()));
    ::close(arrival.fd);
    return raw->abort();
  }
  if (draining_) return raw->abort();  // placed here by another worker just before this one drained
}

void RelayServer::stop() { drain(); }

void RelayServer::drain() {
  if (std::exchange(draining_, true)) return;
  if (reads_config_)  // said once for the relay, by worker 0; every worker drains
    log::info("relay", "draining: no new links or streams; open streams may finish for " +
                           std::to_string(kDrainMs / 1000) + " s");
  listener_.close([this] {
    listener_closed_ = true;
    maybe_exit();
  });
  for (auto& [p, wait] : header_waits_) wait->close();  // their sockets close; each then goes
  if (std::exchange(placing_, false)) {
    for (auto& arrival : shared_.placement.close(worker_)) {  // placed here, never taken
      ::close(arrival.fd);
      shared_.placement.release(worker_, arrival.source, true);
    }
    arrivals_wake_.close();
  }
  // A held session ends here, and its handler may go with it: each is reached through a copy.
  for (LinkHandler* l : handlers()) l->drain();
  uv_timer_start(
      drain_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<RelayServer*>(t->data);
        for (auto& [p, l] : self->links_) l->close(frame::CloseCode::Shutdown, "relay shutting down");
      },
      kDrainMs, 0);
}

// Worker 0, once a second: the audit log's summaries of the second just ended, and every 10 s this
// host's addresses (an interface that came up must not be reachable through the relay).
void RelayServer::on_tick() {
  shared_.audit.flush_summaries();
  if (++ticks_ % 10 == 0) refresh_local_addresses();
}

// The named set `self` (policy/local_addresses.hpp): every address of every interface, up or down.
// Not uv_interface_addresses(), which leaves out interfaces without a carrier (docker0 with no
// container, an unplugged NIC), whose addresses still reach this host's 0.0.0.0 listeners.
void RelayServer::refresh_local_addresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return;  // keep what we had
  std::vector<policy::Address> addresses;
  for (const ifaddrs* i = list; i; i = i->ifa_next)
    if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
      if (auto a = policy::Address::from_sockaddr(i->ifa_addr)) addresses.push_back(*a);
  ::freeifaddrs(list);
  policy::set_local_addresses(std::move(addresses));
}

void RelayServer::reload() {
  refresh_local_addresses();
  if (!shared_.audit.reopen())  // logrotate's HUP: whatever becomes of the configuration
    log::error("relay", "audit_log: cannot open " + config_.audit_log + " again; records go to the old file");
  auto next = std::make_shared<config::RelayConfig>();
  if (auto err = config::load_relay_config(config_.file, *next, rule_check())) {
    log::error("relay", "reload refused, the old configuration stays: " + err->to_string());
    return;
  }
  if (config::link_suites(*next) != ctx_.link_suites)
    log::warn("relay",
              "link_ciphers changed: it is read at start, so the change takes effect after a restart");
  const std::size_t revoked = shared_.agents.reload(next->agents);
  shared_.agents.set_buffer_limit(static_cast<std::uint64_t>(next->max_buffered_mib_per_agent) << 20);
  shared_.reloads.publish(next);  // the other workers apply it on their own loops
  apply(*next);
  log::info("relay", "reloaded: " + std::to_string(next->agents.size()) + " agents, " +
                         std::to_string(revoked) + " revoked (agents from " +
                         std::to_string(next->agent_sources.size()) +
                         " files)");  // once, by the worker that read the file
}

void RelayServer::apply(const config::RelayConfig& next) {
  policy_->state = build_policy(next);  // new streams see the new rules; open ones carry on
  proxy_trusted_ = trusted_of(next);    // for new connections
  frame::Routes routes = routes_of(next);
  const bool routes_changed = routes != ctx_.routes;
  ctx_.routes = std::move(routes);
  for (LinkHandler* l : handlers()) {  // a revoked agent's held session ends, and its handler may go
    if (!l->established()) continue;
    if (auto info = shared_.agents.find(l->peer())) {
      l->update_agent(*info);
      l->recheck_policy();
      if (routes_changed) l->push_routes();
    } else {
      l->close(frame::CloseCode::Revoked, "this agent's key was removed");
      l->end_session("the agent's key was removed");  // held streams end too; last: it may free l
    }
  }
}

void RelayServer::maybe_exit() {
  if (!draining_ || !listener_closed_ || !links_.empty() || !header_waits_.empty()) return;
  if (std::exchange(exited_, true)) return;
  sigterm_.close();
  sigint_.close();
  sighup_.close();
  if (std::exchange(subscribed_, false)) shared_.reloads.unsubscribe(reload_wake_.get());
  reload_wake_.close();
  drain_timer_.close();
  audit_timer_.close();
  sessions_timer_.close();
  if (reads_config_) shared_.audit.flush_summaries(true);
  handles_.when_closed([this] {
    if (auto stopped = std::move(on_stopped_)) stopped();
  });
}

}  // namespace ferry::relay
