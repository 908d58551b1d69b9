// The agent process on one event loop: the local listeners (every one speaks every protocol), the
// client sessions, the links to the relay, /status, and SIGTERM/SIGINT.
//
// The first SIGTERM/SIGINT drains: every new proxy request is refused at once (HTTP 503, SOCKS5
// 0x01, SOCKS4 0x5B; the ports stay bound so that `ferry-agent status` still answers "draining"),
// idle connections close, and open streams run on until they end or drain_timeout_s passes. Then
// everything closes and the loop ends (exit 0). A second signal closes everything at once.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "agent/client_session.hpp"
#include "agent/egress_check.hpp"
#include "agent/network_watch.hpp"
#include "agent/relay_set.hpp"
#include "common/routes/route_list.hpp"
#include "common/uv/tcp_listener.hpp"

namespace ferry::agent {

class AgentServer {
 public:
  // Local connections at once; past it new ones are closed at accept (memory stays bounded).
  static constexpr std::size_t kMaxClients = 20'000;

  AgentServer(uv_loop_t* loop, config::AgentConfig config, crypto::SecretKey key);
  ~AgentServer();
  // Binds every listener (each logs "listening on ADDR") and starts the links.
  Result<void> start();
  std::string status_json() const;
  std::string status_html() const;
  // GET /proxy.pac: the relay's routes and agent.toml's own (pac_file.hpp).
  std::string proxy_pac() const;
  // Stops taking new streams and lets open ones finish, at most drain_timeout_s; then stop().
  void drain();
  // Closes everything (the end of a drain, or a second signal); the loop then ends.
  void stop();
  bool draining() const noexcept { return ctx_.draining; }

 private:
  void on_connection(uv_stream_t* server);
  void maybe_exit();
  void on_signal();
  // The primary link came up on a new session: which address do the targets see now?
  void check_egress();
  // A link's relay pushed its route list.
  void on_routes(const frame::Routes& pushed);

  uv_loop_t* loop_;
  config::AgentConfig config_;
  crypto::SecretKey key_;
  RelaySet links_;
  NetworkWatch network_;  // a new network or a wake: the links are probed at once
  AgentContext ctx_;
  EgressCheck egress_;
  EgressReport egress_report_;
  // The relay's routes (version 0: none pushed yet) and agent.toml [routes] extra.
  routes::RouteList relay_routes_;
  std::vector<routes::Route> own_routes_;
  std::string http_hostport_, socks_hostport_;  // as the PAC names them
  std::vector<std::unique_ptr<uv::TcpListener>> listeners_;
  std::map<ClientSession*, std::unique_ptr<ClientSession>> sessions_;
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_signal_t> sigterm_{handles_}, sigint_{handles_};
  uv::Handle<uv_timer_t> drain_timer_{handles_};
  std::uint64_t drain_started_ms_ = 0;
  bool stopping_ = false;
  bool link_stopped_ = false;
  bool watch_stopped_ = false;
  bool egress_stopped_ = false;
  bool exited_ = false;
  std::size_t listeners_open_ = 0;
  std::uint64_t started_ms_ = 0;
};

}  // namespace ferry::agent
