#include "agent/agent_server.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "agent/pac_file.hpp"
#include "agent/split_routing.hpp"
#include "agent/status_page.hpp"
#include "common/json_escape.hpp"
#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {

AgentServer::AgentServer(uv_loop_t* loop, config::AgentConfig config, crypto::SecretKey key)
    : loop_(loop),
      config_(std::move(config)),
      key_(std::move(key)),
      links_(loop, config_, key_),
      network_(loop, [this](const std::string& why) { links_.probe(why); }),
      egress_(loop,
              {[this](const Target& t, link::StreamHandler* h) { links_.open(t, h); },
               [this](link::StreamHandler* h) { links_.cancel(h); }},
              config_) {
  ctx_.loop = loop;
  ctx_.links = &links_;
  ctx_.config = &config_;
  ctx_.status_json = [this] { return status_json(); };
  ctx_.status_html = [this] { return status_html(); };
  ctx_.proxy_pac = [this] { return proxy_pac(); };
  for (const std::string& text : config_.routes_extra)  // checked when agent.toml was read
    if (auto r = routes::parse_route(text)) own_routes_.push_back(std::move(*r));
  links_.on_routes([this](const frame::Routes& r) { on_routes(r); });
  if (config_.direct_outside)
    ctx_.goes_direct = [this](const Target& t) { return goes_direct(true, relay_routes_, own_routes_, t); };
  if (!config_.egress_check_url.empty()) links_.on_new_session([this] { check_egress(); });
}

AgentServer::~AgentServer() = default;

// On failure the caller runs stop() and the loop, so every handle made so far is closed properly.
Result<void> AgentServer::start() {
  started_ms_ = uv_now(loop_);
  sigterm_.init(uv_signal_init, loop_, this);
  sigint_.init(uv_signal_init, loop_, this);
  drain_timer_.init(uv_timer_init, loop_, this);
  for (const auto* listen : {&config_.http_listen, &config_.socks_listen}) {
    if (!*listen) continue;
    auto addr = uv::parse_socket_address(**listen);
    if (!addr) return addr.error();
    listeners_.push_back(
        std::make_unique<uv::TcpListener>(loop_, [this](uv_stream_t* s) { on_connection(s); }));
    listeners_open_ = listeners_.size();
    auto& l = *listeners_.back();
    if (auto r = l.listen(reinterpret_cast<const sockaddr*>(&*addr)); !r) return r;
    log::info("agent", "listening on " + l.local_address() + " (HTTP, SOCKS5, SOCKS4)");
    // The PAC names the port on loopback when it listens on every address.
    std::string at = l.local_address();
    if (at.rfind("0.0.0.0:", 0) == 0) at = "127.0.0.1:" + at.substr(8);
    if (at.rfind("[::]:", 0) == 0) at = "[::1]:" + at.substr(5);
    (listen == &config_.http_listen ? http_hostport_ : socks_hostport_) = at;
  }
  auto on_signal = [](uv_signal_t* s, int) { static_cast<AgentServer*>(s->data)->on_signal(); };
  uv_signal_start(sigterm_.get(), on_signal, SIGTERM);
  uv_signal_start(sigint_.get(), on_signal, SIGINT);
  if (config_.direct_outside)
    log::info("agent",
              "split mode: targets outside the office's routes will be dialled from this "
              "computer; until the relay sends its routes, everything goes through it");
  links_.start();
  if (auto r = network_.start(); !r)
    log::info("agent", "network changes are not watched (" + describe(r.error()) +
                           "); links are still probed after a wake");
  return {};
}

void AgentServer::check_egress() {
  if (stopping_) return;
  const std::size_t relay = links_.active();  // the relay the check goes through
  egress_.run([this, relay](const EgressReport& r) {
    egress_report_ = r;
    if (r.matches())
      log::info("agent", "egress check: " + r.summary());
    else
      log::warn("agent", "egress check: " + r.summary());
    // With several relays, one that leaves from another address than expected_egress is not used:
    // targets would see the wrong address (and answer 403), however well the relay works.
    // A check that did not work (the URL unreachable) says nothing about the relay.
    if (!r.matches() && !r.address.empty() && !config_.expected_egress.empty() && links_.size() > 1 &&
        !links_.reject(relay,
                       "targets see it as " + r.address + ", not " + r.expected + " (expected_egress)"))
      log::warn("agent", "no other relay to move to: " + links_.active_address() + " stays in use");
  });
}

void AgentServer::on_routes(const frame::Routes& pushed) {
  if (pushed.version == relay_routes_.version) return;  // every link of the pool brings the same list
  routes::RouteList next{pushed.version, {}};
  std::size_t unusable = 0;
  for (const std::string& text : pushed.entries) {
    if (auto r = routes::parse_route(text))
      next.routes.push_back(std::move(*r));
    else
      ++unusable;  // a newer relay's kind of route, perhaps: the rest still apply
  }
  char v[16];
  std::snprintf(v, sizeof v, "%08x", pushed.version);
  log::info("agent", "routes from the relay: " + std::to_string(next.routes.size()) + " (version " + v + ")" +
                         (unusable ? ", " + std::to_string(unusable) + " not understood and left out" : ""));
  relay_routes_ = std::move(next);
  ctx_.routes_version = relay_routes_.version;  // targets warmed under the old routes are cold again
  if (config_.direct_outside)
    log::info("agent", "split mode: targets outside these routes" +
                           std::string(own_routes_.empty() ? "" : " and agent.toml's") +
                           " are dialled from this computer");
}

std::string AgentServer::proxy_pac() const {
  std::vector<routes::Route> all = relay_routes_.routes;
  all.insert(all.end(), own_routes_.begin(), own_routes_.end());
  return pac_file(all, pac_proxy(http_hostport_, socks_hostport_), relay_routes_.version);
}

void AgentServer::on_connection(uv_stream_t* server) {
  auto s = std::make_unique<ClientSession>(ctx_, [this](ClientSession& gone) {
    sessions_.erase(&gone);  // the session calls this from a copy of its own
    maybe_exit();
  });
  ClientSession* raw = s.get();
  sessions_.emplace(raw, std::move(s));
  if (auto r = raw->accept(server); !r) {
    log::warn("agent", "cannot accept a client: " + describe(r.error()));  // EMFILE: shed, do not spin
    return;
  }
  if (stopping_ || sessions_.size() > kMaxClients) raw->shutdown();
}

void AgentServer::on_signal() {
  if (stopping_) return;  // the loop is ending already
  if (!ctx_.draining) return drain();
  log::info("agent", "second signal: closing " + std::to_string(sessions_.size()) + " connections now");
  stop();
}

void AgentServer::drain() {
  if (ctx_.draining || stopping_) return;
  ctx_.draining = true;
  drain_started_ms_ = uv_now(loop_);
  log::info("agent", "draining: " + std::to_string(links_.status().streams) +
                         " open streams may finish within " + std::to_string(config_.drain_timeout_s) +
                         " s; new requests are refused");
  // Collected first: a session that closes at once leaves sessions_ from its close callback, which
  // runs later in the loop, but nothing here may depend on that.
  std::vector<ClientSession*> all;
  all.reserve(sessions_.size());
  for (auto& [p, s] : sessions_) all.push_back(p);
  for (ClientSession* s : all) s->drain();
  uv_timer_start(
      drain_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<AgentServer*>(t->data);
        log::info("agent",
                  "drain time is up: closing " + std::to_string(self->sessions_.size()) + " connections");
        self->stop();
      },
      static_cast<std::uint64_t>(config_.drain_timeout_s) * 1000, 0);
  maybe_exit();
}

void AgentServer::stop() {
  if (std::exchange(stopping_, true)) return;
  for (auto& l : listeners_)
    l->close([this] {
      --listeners_open_;
      maybe_exit();
    });
  for (auto& [p, s] : sessions_) s->shutdown();
  links_.stop([this] {
    link_stopped_ = true;
    maybe_exit();
  });
  network_.stop([this] {
    watch_stopped_ = true;
    maybe_exit();
  });
  egress_.close([this] {
    egress_stopped_ = true;
    maybe_exit();
  });
}

void AgentServer::maybe_exit() {
  if (ctx_.draining && !stopping_ && sessions_.empty()) {
    log::info("agent", "drained: every stream has ended");
    return stop();
  }
  if (!stopping_ || listeners_open_ > 0 || !sessions_.empty() || !link_stopped_ || !watch_stopped_ ||
      !egress_stopped_)
    return;
  if (std::exchange(exited_, true)) return;
  sigterm_.close();
  sigint_.close();
  drain_timer_.close();
  log::info("agent", "stopped");
}

std::string AgentServer::status_json() const {
  const LinkStatus s = links_.status();
  std::string j = "{";
  j += "\"link\":" + json_string(s.state);
  j += ",\"agent\":" + json_string(ctx_.draining ? "draining" : "running");
  if (ctx_.draining) {
    const std::uint64_t spent_s = (uv_now(loop_) - drain_started_ms_) / 1000;
    const auto budget = static_cast<std::uint64_t>(config_.drain_timeout_s);
    j += ",\"drain_left_s\":" + std::to_string(budget > spent_s ? budget - spent_s : 0);
  }
  j += ",\"relay\":" + json_string(s.relay);
  j += ",\"cipher\":" + (s.cipher.empty() ? std::string("null") : json_string(s.cipher));
  j += ",\"rtt_ms\":" + (s.rtt_ms ? std::to_string(*s.rtt_ms) : std::string("null"));
  j += ",\"open_streams\":" + std::to_string(s.streams);
  j += ",\"clients\":" + std::to_string(sessions_.size());
  j += ",\"bytes_sent\":" + std::to_string(s.bytes_sent);
  j += ",\"bytes_received\":" + std::to_string(s.bytes_received);
  j += ",\"connected_for_s\":" +
       (s.connected_for_s ? std::to_string(*s.connected_for_s) : std::string("null"));
  j += ",\"last_error\":" + (s.last_error.empty() ? std::string("null") : json_string(s.last_error));
  j += ",\"resumes\":" + std::to_string(s.resumes);
  // Early reply (docs/spec.md 6.11): clients answered before the relay, of which the relay then
  // refused (their connections were closed), and the targets that count as warm now.
  j += ",\"early_replies\":" + std::to_string(ctx_.early_replies);
  j += ",\"early_refused\":" + std::to_string(ctx_.early_refused);
  j += ",\"warm_targets\":" + std::to_string(ctx_.warm.size());
  j += ",\"uptime_s\":" + std::to_string((uv_now(loop_) - started_ms_) / 1000);
  // The last egress check: null until one ran (none without [relay] egress_check_url).
  const EgressReport& e = egress_report_;
  j += ",\"egress_check\":" + (e.ran() ? json_string(e.summary()) : std::string("null"));
  j += ",\"egress_address\":" + (e.address.empty() ? std::string("null") : json_string(e.address));
  j += ",\"egress_ok\":" + (e.ran() ? std::string(e.matches() ? "true" : "false") : std::string("null"));
  j += ",\"egress_checked_unix_s\":" + (e.ran() ? std::to_string(e.at_unix_s) : std::string("null"));
  // The routes: the relay's (with its version; null before one was pushed) and agent.toml's.
  char version[16];
  std::snprintf(version, sizeof version, "%08x", relay_routes_.version);
  j += ",\"routes_version\":" + (relay_routes_.version ? json_string(version) : std::string("null"));
  j += ",\"routes_count\":" + std::to_string(relay_routes_.routes.size());
  std::string list;
  for (const routes::Route& r : relay_routes_.routes) list += (list.empty() ? "" : ",") + json_string(r.text);
  j += ",\"routes\":[" + list + "]";
  list.clear();
  for (const routes::Route& r : own_routes_) list += (list.empty() ? "" : ",") + json_string(r.text);
  j += ",\"routes_extra\":[" + list + "]";
  // Split mode ([routes] direct_outside): off, waiting (no routes yet: everything goes through the
  // relay), or on (targets outside the routes are dialled from this computer).
  j += ",\"split_mode\":" + json_string(!config_.direct_outside ? "off"
                                        : relay_routes_.version ? "on"
                                                                : "waiting for the relay's routes");
  // agent.toml's relays: which serves, and why each other one does not.
  std::string relays;
  for (const RelayState& r : links_.states())
    relays += std::string(relays.empty() ? "" : ",") + "{\"address\":" + json_string(r.address) +
              ",\"state\":" + json_string(r.state) + "}";
  j += ",\"relays\":[" + relays + "]";
  // Each link of the pool ([relay] links), last: `ferry-agent status` reads the first of each key.
  std::size_t up = 0;
  std::string each;
  for (const LinkStatus& l : links_.statuses()) {
    up += l.state == "up";
    each += std::string(each.empty() ? "" : ",") + "{\"state\":" + json_string(l.state) +
            ",\"rtt_ms\":" + (l.rtt_ms ? std::to_string(*l.rtt_ms) : std::string("null")) +
            ",\"streams\":" + std::to_string(l.streams) + ",\"bytes_sent\":" + std::to_string(l.bytes_sent) +
            ",\"bytes_received\":" + std::to_string(l.bytes_received) +
            ",\"last_error\":" + (l.last_error.empty() ? std::string("null") : json_string(l.last_error)) +
            ",\"session\":" + (l.session.empty() ? std::string("null") : json_string(l.session)) +
            ",\"resumable\":" + (l.resumable ? "true" : "false") +
            ",\"held\":" + (l.held ? "true" : "false") + ",\"resumes\":" + std::to_string(l.resumes) +
            ",\"last_resume_reason\":" +
            (l.last_resume_reason.empty() ? std::string("null") : json_string(l.last_resume_reason)) + "}";
  }
  j += ",\"links_up\":" + std::to_string(up) + ",\"links\":[" + each + "]";
  return j + "}\n";
}

std::string AgentServer::status_html() const {
  StatusView v;
  v.draining = ctx_.draining;
  v.uptime_s = (uv_now(loop_) - started_ms_) / 1000;
  v.relay = links_.active_address();
  v.links = links_.statuses();
  for (const auto& [p, s] : sessions_)
    if (auto snap = s->snapshot()) v.streams.push_back(std::move(*snap));
  v.streams_total = v.streams.size();
  // The oldest first: the long-lived ones (an ssh session, a tunnel) are what a person looks for.
  const auto shown = std::min(v.streams.size(), kMaxStreamsShown);
  std::partial_sort(v.streams.begin(), v.streams.begin() + static_cast<std::ptrdiff_t>(shown),
                    v.streams.end(),
                    [](const StreamSnapshot& a, const StreamSnapshot& b) { return a.age_s > b.age_s; });
  v.streams.resize(shown);
  v.refusals = ctx_.refusals.all();
  v.egress_configured = !config_.egress_check_url.empty();
  v.egress = egress_report_;
  v.now_unix_s = static_cast<std::int64_t>(std::time(nullptr));
  return render_status_page(v);
}

}  // namespace ferry::agent
