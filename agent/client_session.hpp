// One local client connection at the agent. The first byte says which protocol it speaks (0x05
// SOCKS5, 0x04 SOCKS4/4a, anything else HTTP); the session runs that handshake, asks the link for a
// stream to the target, answers the client with the relay's real outcome (the outcome table of docs/spec.md),
// and then pipes bytes both ways. HTTP requests other than CONNECT go to HttpForwarder.
#pragma once

#include <functional>
#include <memory>

#include "agent/agent_context.hpp"
#include "agent/direct_pipe.hpp"
#include "agent/stream_snapshot.hpp"
#include "common/codec/sniff.hpp"
#include "common/uv/socket_pipe.hpp"

namespace ferry::agent {

class HttpForwarder;

// The session is the handler of its stream while the relay answers the OPEN (SOCKS, CONNECT); then
// the pipe takes the stream's events. A forwarded HTTP connection's streams are the forwarder's.
class ClientSession final : public link::StreamHandler {
 public:
  using GoneFn = std::function<void(ClientSession&)>;
  // Bytes a client may send before its handshake completes (a 32 KiB HTTP head and change). Bytes
  // sent after it, while the stream opens, are not counted: reading pauses until the stream exists.
  static constexpr std::size_t kMaxHandshakeBytes = 64 * 1024;
  // An HTTP keep-alive connection with no traffic for this long is closed.
  static constexpr std::uint64_t kKeepAliveIdleMs = 300'000;

  ClientSession(AgentContext& ctx, GoneFn gone);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  Result<void> accept(uv_stream_t* server);
  void shutdown();  // the agent stops: close at once
  // The agent drains: a stream already open (or opening) runs on; a connection that has said nothing
  // yet, or an idle HTTP keep-alive one, closes now; any new request is refused.
  void drain();
  // Its stream, once the relay opened one (SOCKS, CONNECT, or a forwarded request's origin).
  std::optional<StreamSnapshot> snapshot() const;

 private:
  enum class Stage {
    Sniff,
    Socks5Greeting,
    Socks5Auth,
    Socks5Request,
    Socks4Request,
    HttpHead,
    Opening,
    Piping,
    Http,
    Done
  };

  void on_bytes(ByteSpan bytes);
  void step();
  void socks5_greeting();
  void socks5_auth();
  void socks5_request();
  void socks4_request();
  void http_head();
  void open(const Target& target, std::size_t request_bytes);
  void start_direct();
  // Early reply: success to the client now, its bytes behind the OPEN; the relay's answer follows.
  void answer_early(link::StreamRef stream);
  void pipe_to(link::StreamRef stream, uv::SocketPipe::AnswerFn answer = {});
  void on_early_answer(const frame::OpenResult& r);
  void refuse(Bytes reply, const std::string& why);
  void log_refusal(const std::string& why);

  void on_open_sent(const link::StreamRef& ref) override;
  void on_open_result(const frame::OpenResult& r) override;
  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  void on_reset(frame::ResetCode code) override;

  AgentContext& ctx_;
  GoneFn gone_;
  std::unique_ptr<uv::TcpConnection> conn_;  // the client's socket, raw until a stream is open
  std::unique_ptr<uv::SocketPipe> pipe_;     // then piped to the stream (SOCKS, CONNECT)
  std::unique_ptr<HttpForwarder> http_;
  // Split mode: the dial under way for a target outside the routes, then the pipe that carries it.
  DirectStream::Ptr direct_opening_;
  std::unique_ptr<DirectPipe> direct_;
  link::StreamRef opening_;  // the stream asked for, until the relay answers
  Stage stage_ = Stage::Sniff;
  sniff::Protocol protocol_ = sniff::Protocol::Http;
  Bytes inbox_;
  Target target_;
  std::string peer_;
  sockaddr_storage local_{};  // the address the client connected to (AF_UNSPEC if unknown)
  // Split mode dials directly only for a client on this computer, or one that gave the password.
  bool may_go_direct_ = false;
  bool client_eof_ = false;
  bool early_ = false;  // the target is one to answer early (warm, or early_reply = "always")
  std::uint64_t piping_since_ms_ = 0;
};

}  // namespace ferry::agent
