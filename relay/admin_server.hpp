// The admin listener: GET /metrics (Prometheus text) and GET /healthz. One request per connection,
// a bounded head, a timeout; meant for a monitoring system on a trusted address (loopback by default).
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

  AdminServer(uv_loop_t* loop, const Metrics& metrics, const LinkPlacement& placement);
  Result<void> start(const std::string& listen);
  void stop(std::function<void()> done);

 private:
  void on_connection(uv_stream_t* server);
  void on_request(uv::TcpConnection& pipe, Bytes& inbox, ByteSpan bytes);

  uv_loop_t* loop_;
  const Metrics& metrics_;
  const LinkPlacement& placement_;
  uv::TcpListener listener_;
  std::map<uv::TcpConnection*, std::unique_ptr<uv::TcpConnection>> clients_;
  std::map<uv::TcpConnection*, Bytes> inboxes_;
  bool listening_ = false;
};

}  // namespace ferry::relay
