// The HTTP/1.1 forward proxy on one client connection (RFC 9110 §7.6, RFC 9112): requests in
// absolute-form are re-issued in origin-form over a stream to their origin, one exchange at a time,
// so keep-alive and pipelining work across origins. A stream is kept for the next request to the
// same origin while both sides allow it. Bodies pass through by Content-Length, chunked (the scanner
// finds the end) or until the origin closes; Upgrade (WebSocket) and a CONNECT after other requests
// turn the connection into a tunnel; a 101 to a request that did not ask to upgrade is refused, so
// that pipelined requests never flow into a protocol nobody chose. Local pages (origin-form: GET
// /status) answer only a Host that names this port (local_host.hpp). Errors are real HTTP responses
// that say what happened.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <optional>
#include <string>

#include "agent/agent_context.hpp"
#include "common/codec/http1_body.hpp"
#include "common/codec/http1_chunked.hpp"
#include "common/codec/http1_head.hpp"
#include "common/codec/http1_target.hpp"
#include "common/uv/socket_pipe.hpp"

namespace ferry::agent {

class HttpForwarder {
 public:
  // Unprocessed client bytes (pipelined requests) held before reading pauses.
  static constexpr std::size_t kMaxInbox = 256 * 1024;

  // `local` is the address the client connected to: local pages answer only a Host that names it.
  HttpForwarder(AgentContext& ctx, uv::SocketPipe& client, StreamOwner& owner, std::string peer,
                const sockaddr_storage& local);
  ~HttpForwarder();

  // Client side: every byte after the protocol was recognised (the first call includes the head).
  void on_client_bytes(ByteSpan bytes);
  void on_client_eof();
  // Stream side, forwarded by the session.
  void on_open_result(LinkClient& link, link::StreamId id, const frame::OpenResult& r);
  void on_stream_data(ByteSpan bytes);
  void on_stream_fin();
  void on_stream_reset(frame::ResetCode code);
  void on_stream_writable();
  void shutdown();
  // The agent drains: an exchange under way finishes and then the connection closes; an idle one
  // closes now; a new request gets 503 (local pages such as /status still answer).
  void drain();

 private:
  enum class Phase { Head, Body, Response, Tunnel, Closing };

  void process();
  void maybe_resume_client();
  bool start_request();
  bool addressed_here(const http1::RequestHead& head) const;
  void misdirected();
  void local_page(const http1::RequestHead& head, const http1::RequestTarget& rt);
  void write_local_page(std::string page);
  void forward_request_body();
  void send_to_origin(ByteSpan bytes);
  void on_response_bytes(ByteSpan bytes);
  bool on_response_head();
  void forward_response_body(ByteSpan bytes);
  void response_done();
  // Writes to the client; `credit` (default: the size) is what the stream gets back once written.
  void to_client(ByteSpan bytes, std::optional<std::size_t> credit = std::nullopt);
  void fail(int status, const std::string& text);
  void close_client();
  void release_stream(bool reset);

  AgentContext& ctx_;
  uv::SocketPipe& client_;
  StreamOwner& owner_;
  std::string peer_;
  sockaddr_storage local_;
  Phase phase_ = Phase::Head;
  Bytes inbox_;
  bool client_eof_ = false;

  // The current exchange.
  http1::RequestHead req_;
  http1::RequestTarget rt_;
  http1::BodyFraming req_body_;
  std::uint64_t req_left_ = 0;
  http1::ChunkedScanner req_chunks_;
  bool keep_alive_ = true;
  bool upgrade_ = false;
  // The inbox holds the start of a head that the decoder said needs more, and nothing has arrived
  // since that could change its answer (head_progress.hpp).
  bool head_incomplete_ = false;

  // The origin stream: kept across exchanges to the same origin.
  std::optional<link::StreamId> stream_;
  LinkClient* link_ = nullptr;  // the pool's link that stream_ rides
  Target origin_;
  bool opening_ = false;
  bool upstream_blocked_ = false;  // the current stream's send queue is full
  std::uint64_t generation_ = 0;   // link_'s connection that the stream belongs to
  bool origin_reusable_ = false;
  Bytes to_origin_;  // bytes waiting for the stream to open

  // The response.
  Bytes resp_head_;
  http1::BodyFraming resp_body_;
  std::uint64_t resp_left_ = 0;
  http1::ChunkedScanner resp_chunks_;
  bool head_parsed_ = false;
};

}  // namespace ferry::agent
