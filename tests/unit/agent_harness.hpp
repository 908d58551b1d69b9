// The agent's front end in the test process: client sessions, the link client and the HTTP
// forwarder run as in ferry-agent, on a loop thread of their own, linked over loopback TCP to a relay
// stand-in that the test scripts. The test plays the local application through real sockets
// (loopback_client.hpp) and steers the relay: it may hold an OPEN's answer back, withhold credit,
// send a stream's bytes and FIN, or close the link at a chosen moment, and it can look at either
// side's state on the loop thread (on_loop) at any time.
#pragma once

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "agent/client_session.hpp"
#include "agent/relay_set.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"

namespace ferry::test {

// What one stream brought to the relay stand-in.
struct RelayStream {
  Target target;
  Bytes data;
  bool fin = false;
  std::optional<frame::ResetCode> reset;
  bool consume = true;  // give the agent credit back for what arrives; false: the window runs out
};

// Accepts the agent's link (the agent's key only) and does what the test says with its streams.
// Loop thread only.
class FakeRelay final : public link::LinkEvents {
 public:
  FakeRelay(uv_loop_t* loop, const crypto::SecretKey& key, const crypto::PublicKey& agent);
  int port() const { return listener_.local_port(); }

  // Called for every OPEN; the default accepts at once. A test may answer() later instead.
  std::function<void(link::StreamId, const Target&)> on_open_fn;
  // Called after bytes arrived on a stream (the stream's data holds all of them so far).
  std::function<void(link::StreamId)> on_data_fn;

  void answer(link::StreamId id, frame::OpenCode code, std::string_view reason = {});
  void send(link::StreamId id, ByteSpan bytes);
  void send(link::StreamId id, std::string_view text);
  void finish(link::StreamId id);
  // An authenticated close of the current link, as a relay that shuts down sends.
  void close_link();
  link::Mux* mux() { return conn_ && !conn_->closing() ? &conn_->mux() : nullptr; }
  // The last stream opened to `host`, or 0.
  link::StreamId stream_to(const std::string& host) const;
  void stop();

  std::map<link::StreamId, RelayStream> streams;
  int links = 0;

 private:
  struct Admit : link::Admission {
    crypto::PublicKey allowed;
    crypto::Tai64n last{};
    bool admit(const crypto::PublicKey& k) override { return k == allowed; }
    bool fresh(const crypto::PublicKey&, const crypto::Tai64n& ts) override {
      if (!crypto::newer(ts, last)) return false;
      last = ts;
      return true;
    }
  };
  void on_connection(uv_stream_t* server);
  void on_established(const crypto::PublicKey&) override { ++links; }
  void on_open(link::StreamId id, const Target& t) override;
  void on_data(link::StreamId id, ByteSpan b) override;
  void on_fin(link::StreamId id) override { streams[id].fin = true; }
  void on_reset(link::StreamId id, frame::ResetCode c) override { streams[id].reset = c; }
  void on_closed(const Error&) override {}

  uv_loop_t* loop_;
  const crypto::SecretKey& key_;
  Admit admission_;
  uv::TcpListener listener_;
  std::unique_ptr<uv::LinkConnection> conn_;
  std::vector<std::unique_ptr<uv::LinkConnection>> retired_;
  bool stopped_ = false;
};

struct AgentOptions {
  std::uint64_t handshake_timeout_ms = 10'000;
  // False: the agent's relay address has nobody listening, so the link stays down.
  bool relay_up = true;
  // Non-zero: SO_SNDBUF of the agent's client sockets (inherited from the listener), so that what a
  // client does not read queues in the agent instead of in the kernel.
  int client_sndbuf = 0;
  // The first stream id of each link (odd): near 2^31-1, a link runs out of ids after a few streams.
  std::uint32_t first_stream_id = 1;
};

class AgentHarness {
 public:
  explicit AgentHarness(AgentOptions options = {});
  // Closes everything the agent opened and checks the loop ends with no handle left.
  ~AgentHarness();
  AgentHarness(const AgentHarness&) = delete;
  AgentHarness& operator=(const AgentHarness&) = delete;

  // The agent's proxy port (every protocol).
  int port() const { return port_; }
  // GET /status as `ferry-agent status` sends it: its Host names this port, or the agent answers 421.
  std::string status_request() const {
    return "GET /status HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) + "\r\n\r\n";
  }
  // Runs `f` on the loop thread between two callbacks and returns its result.
  template <class F>
  auto on_loop(F&& f) {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R>) {
      post([&] { f(); });
    } else {
      std::optional<R> r;
      post([&] { r.emplace(f()); });
      return std::move(*r);
    }
  }
  // Checks `pred` on the loop thread every few milliseconds until it holds or `timeout` passes.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Loop thread only.
  FakeRelay& relay() { return *relay_; }
  agent::LinkClient& link() { return link_->pool(0).link(0); }
  std::size_t sessions() const { return sessions_.size(); }
  uv_loop_t* loop() { return loop_->get(); }

 private:
  void post(std::function<void()> fn);
  void drain_posted();
  void stop_all();

  AgentOptions options_;
  config::AgentConfig config_;
  crypto::SecretKey agent_key_ = crypto::SecretKey::generate();
  crypto::SecretKey relay_key_ = crypto::SecretKey::generate();
  std::unique_ptr<uv::Loop> loop_;
  std::unique_ptr<FakeRelay> relay_;
  std::unique_ptr<agent::RelaySet> link_;
  agent::AgentContext ctx_;
  std::unique_ptr<uv::TcpListener> listener_;
  std::map<agent::ClientSession*, std::unique_ptr<agent::ClientSession>> sessions_;
  uv_async_t wake_{};
  std::mutex posted_mutex_;
  std::deque<std::function<void()>> posted_;
  int port_ = 0;
  int refusing_fd_ = -1;  // holds the relay address while relay_up is false
  int loop_close_ = -1;
  std::thread thread_;
};

}  // namespace ferry::test
