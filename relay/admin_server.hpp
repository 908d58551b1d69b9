// The admin listener: GET /metrics (Prometheus text), GET /healthz (alive: 200 for as long as the
// process answers) and GET /health (serving: 200, or 503 once a SIGTERM started the drain, so that a
// load balancer sends new links elsewhere while the open streams finish). One request per
// connection, a bounded head, a timeout; meant for a monitoring system or a load balancer's health
// check on a trusted address (loopback by default).
#pragma once

#include <map>
#include <memory>

#include "common/uv/tcp_connection.hpp"
#include "common/uv/tcp_listener.hpp"
#include "relay/link_placement.hpp"
#include "relay/metrics.hpp"

namespace ferry::relay {

class AdminServer {
 public:
  // Connections at once; past it a new one is closed at accept. The endpoint is for a monitoring
  // system, which needs a handful.
  static constexpr std::size_t kMaxClients = 64;
  // A whole request head must arrive within this, however steadily it trickles in.
  static constexpr std::uint64_t kRequestDeadlineMs = 5000;

  // `draining` says whether the relay has begun to drain (GET /health).
  AdminServer(uv_loop_t* loop, const Metrics& metrics, const LinkPlacement& placement,
              std::function<bool()> draining);
  Result<void> start(const std::string& listen);
  void stop(std::function<void()> done);

 private:
  void on_connection(uv_stream_t* server);
  void on_request(uv::TcpConnection& pipe, Bytes& inbox, ByteSpan bytes);

  uv_loop_t* loop_;
  const Metrics& metrics_;
  const LinkPlacement& placement_;
  std::function<bool()> draining_;
  uv::TcpListener listener_;
  std::map<uv::TcpConnection*, std::unique_ptr<uv::TcpConnection>> clients_;
  std::map<uv::TcpConnection*, Bytes> inboxes_;
  bool listening_ = false;
};

}  // namespace ferry::relay
