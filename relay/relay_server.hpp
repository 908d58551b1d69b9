// One relay worker: an event loop's listener (SO_REUSEPORT, so the kernel spreads new connections
// over the workers, and LinkPlacement then moves some so that an agent's links use different workers),
// its pre-authentication limits, its links, SIGTERM/SIGINT (drain) and SIGHUP (reload
// agents and policy: worker 0 reads relay.toml and the others apply what it published). What the
// workers share is thread-safe.
#include "relay/metrics.hpp"

#pragma once

#include <map>
#include <memory>

#include "common/config/relay_config.hpp"
#include "common/routes/route_list.hpp"
#include "common/uv/tcp_listener.hpp"
#include "relay/config_broadcast.hpp"
#include "relay/link_handler.hpp"
#include "relay/link_placement.hpp"
#include "relay/policy_hooks.hpp"
#include "relay/proxy_header_wait.hpp"
#include "relay/source_rate_limit.hpp"

namespace ferry::relay {

struct RelayShared {
  RelayShared(const config::RelayConfig& cfg, std::size_t workers);
  AgentDirectory agents;       // mutex inside
  AuditLog audit;              // mutex inside
  Metrics metrics;             // atomics
  ConfigBroadcast reloads;     // mutex inside
  LinkPlacement placement;     // mutex inside
  SourceRateLimit rates;       // mutex inside
  RefusalLogRate refusal_log;  // mutex inside
  SessionRegistry sessions;    // mutex inside
};

class RelayServer {
 public:
  // Unauthenticated connections in progress at once, per worker. A new one goes to a worker below it
  // (LinkPlacement); when every worker is at it, the accepting worker evicts its oldest.
  static constexpr std::size_t kMaxUnauthenticated = 256;
  // The time to send message 1 on a worker past half its limit of handshakes.
  static constexpr std::int64_t kBusyHandshakeMs = 1000;
  static constexpr std::uint64_t kDrainMs = 10'000;
  // Trusted balancers' connections whose PROXY header is still being read, per worker; past it a new
  // one is closed at once (a balancer writes its header with the connection, so few ever wait).
  static constexpr std::size_t kMaxHeaderWaits = 256;

  // `worker`: this worker's index, 0 to the number of workers given to `shared` less one.
  RelayServer(uv_loop_t* loop, std::size_t worker, config::RelayConfig config, const crypto::SecretKey& key,
              RelayShared& shared);
  ~RelayServer();
  // Binds `listen` (SO_REUSEPORT) and logs "listening on ADDR" when `announce`.
  // `reads_config`: this is worker 0, which handles SIGHUP for all.
  Result<void> start(const std::string& listen, bool announce, bool reads_config);
  std::string local_address() const { return listener_.local_address(); }
  // Drains and closes everything (SIGTERM does this too); after a failed start() as well.
  void stop();
  // The rate-limit bucket a peer ("IP:PORT", "[IPv6]:PORT") counts against: its IPv4 address or its
  // IPv6 /64, as bytes.
  static std::string rate_source(const std::string& peer);
  // A SIGTERM (or stop()) began the drain: no new links; GET /health answers 503.
  bool draining() const noexcept { return draining_; }
  // Runs once this worker has drained and closed everything (after SIGTERM).
  void on_stopped(std::function<void()> fn) { on_stopped_ = std::move(fn); }

 private:
  void on_connection(uv_stream_t* server);
  // After accept, and after a trusted balancer's PROXY header: rate limit, placement, admission.
  // `peer` is the agent's address ("IP:PORT"); `proxied` when a PROXY header gave it.
  void place(int fd, const std::string& peer, bool proxied);
  bool trusted_balancer(const sockaddr* peer) const;
  void wait_for_header(int fd, const std::string& balancer);
  // A connection placed on this worker, accepted here or by another worker.
  void on_tick();
  void refresh_local_addresses();
  void evict_oldest_handshake();
  // Every handler now, for a loop whose calls may end some (each ends only itself).
  std::vector<LinkHandler*> handlers() const;
  // Once a second: held sessions whose grace ran out end.
  void sweep_sessions();
  // A resume read here names a session another worker holds: the connection goes there.
  void move_resume(const crypto::PublicKey& agent, const link::SessionId& id, int fd, Bytes message1,
                   const std::string& source, const std::string& peer);
  void admit(LinkPlacement::Arrival arrival);
  void on_arrivals();
  void drain();
  void reload();
  void apply(const config::RelayConfig& next);
  void maybe_exit();

  uv_loop_t* loop_;
  std::size_t worker_;
  config::RelayConfig config_;
  const crypto::SecretKey& key_;
  RelayShared& shared_;
  std::shared_ptr<PolicyHolder> policy_ = std::make_shared<PolicyHolder>();
  SessionTable sessions_;
  RelayContext ctx_;
  uv::TcpListener listener_;
  std::map<LinkHandler*, std::unique_ptr<LinkHandler>> links_;
  // [proxy_protocol] trusted, and the PROXY headers being read from those addresses.
  std::vector<routes::Route> proxy_trusted_;
  std::map<ProxyHeaderWait*, std::unique_ptr<ProxyHeaderWait>> header_waits_;
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_signal_t> sigterm_{handles_}, sigint_{handles_}, sighup_{handles_};
  uv::Handle<uv_async_t> reload_wake_{handles_};    // the other workers: worker 0 published a configuration
  uv::Handle<uv_async_t> arrivals_wake_{handles_};  // another worker placed a connection here
  bool placing_ = false;        // arrivals_wake_ is initialised and open in shared_.placement
  bool reads_config_ = false;   // worker 0: SIGHUP reads relay.toml
  bool subscribed_ = false;     // reload_wake_ is initialised and in shared_.reloads
  std::uint64_t admitted_ = 0;  // links admitted so far: their order, for eviction
  uv::Handle<uv_timer_t> drain_timer_{handles_};
  std::uint64_t ticks_ = 0;
  uv::Handle<uv_timer_t> audit_timer_{handles_};     // worker 0, once a second: on_tick()
  uv::Handle<uv_timer_t> sessions_timer_{handles_};  // once a second: sweep_sessions()
  bool draining_ = false;
  bool listener_closed_ = false;
  bool exited_ = false;
  std::function<void()> on_stopped_;
};

}  // namespace ferry::relay
