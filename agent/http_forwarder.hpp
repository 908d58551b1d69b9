// The HTTP/1.1 forward proxy on one client connection: the I/O shell around http1::Exchange
// (common/codec/http1_exchange.hpp), which holds every rule of the exchange (absolute-form requests,
// CONNECT, keep-alive and pipelining across origins, bodies, 1xx and upgrades, Proxy-Authorization,
// the Host check for local pages, errors as real HTTP responses). The forwarder feeds it the
// client's bytes and its origin streams' events (it is their handler) and performs its actions:
// opening and releasing streams through the link pool, sending on the stream, writing to the client
// and giving the stream its credit back once the client has the bytes, pausing the client while the
// exchange wants no more.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "agent/agent_context.hpp"
#include "agent/direct_stream.hpp"
#include "agent/stream_snapshot.hpp"
#include "common/codec/http1_exchange.hpp"
#include "common/link/stream_ref.hpp"
#include "common/uv/tcp_connection.hpp"

namespace ferry::agent {

class HttpForwarder final : public link::StreamHandler {
 public:
  // Unprocessed client bytes (pipelined requests) held before reading pauses.
  static constexpr std::size_t kMaxInbox = http1::Exchange::kMaxInbox;

  // `local` is the address the client connected to: local pages answer only a Host that names it.
  // `may_go_direct`: in split mode, origins outside the routes are dialled from this computer (a
  // client on this computer, or one that gave the password).
  HttpForwarder(AgentContext& ctx, uv::TcpConnection& client, std::string peer, const sockaddr_storage& local,
                bool may_go_direct);
  ~HttpForwarder();

  // Client side: every byte after the protocol was recognised (the first call includes the head).
  void on_client_bytes(ByteSpan bytes);
  void on_client_eof();
  // The origin stream's events (StreamHandler).
  void on_open_sent(const link::StreamRef& ref) override;
  void on_open_result(const frame::OpenResult& r) override;
  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  void on_reset(frame::ResetCode code) override;
  void on_writable() override;
  // The client connection is gone: an open under way is cancelled, and a stream still open is reset,
  // or, when `clean` (both ways ended with FIN), left to finish on its own.
  void end(bool clean);
  void shutdown();
  // The agent drains: an exchange under way finishes and then the connection closes; an idle one
  // closes now; a new request gets 503 (local pages such as /status still answer).
  void drain();
  // The origin stream of the moment, for the status page (none between requests).
  std::optional<StreamSnapshot> snapshot() const;

 private:
  // Performs the exchange's actions in order, then reads the client or not as it wants. An action
  // may feed the exchange again (an open refused at once): its actions join the same queue.
  void run();
  void perform(http1::Action& a);
  void write_to_client(http1::Action& a);
  void release_stream();
  void on_direct_result(const frame::OpenResult& r);
  bool origin_attached() const noexcept { return stream_.attached() || direct_ != nullptr; }
  link::Instant now() const noexcept;

  AgentContext& ctx_;
  uv::TcpConnection& client_;
  std::string peer_;
  sockaddr_storage local_;
  http1::Exchange exchange_;

  link::StreamRef opening_;  // the stream asked for, until the relay answers
  // The stream the exchange's origin actions apply to, once its open was answered, or at once on a
  // link that takes early data (the request rides behind the OPEN; early_ until the answer).
  link::StreamRef stream_;
  bool early_ = false;
  // Split mode: the origin dialled from this computer, while one is (and its dial, until answered).
  // Its generation tells a write's credit which origin it belongs to.
  bool may_go_direct_;
  DirectStream::Ptr direct_opening_;
  DirectStream::Ptr direct_;
  std::uint64_t direct_generation_ = 0;
  std::uint64_t sent_ = 0, received_ = 0;  // of the origin
  std::uint64_t opened_ms_ = 0;
};

}  // namespace ferry::agent
