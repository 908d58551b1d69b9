#include "agent/client_session.hpp"

#include <sodium.h>

#include "agent/http_forwarder.hpp"
#include "agent/proxy_words.hpp"
#include "common/codec/http1_head_progress.hpp"
#include "common/codec/http1_response.hpp"
#include "common/codec/http1_target.hpp"
#include "common/codec/socks4.hpp"
#include "common/codec/socks5.hpp"
#include "common/log.hpp"
#include "common/policy/address.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {
namespace {

// 127.0.0.0/8, ::1, and ::ffff:127.x.y.z (a dual-stack listener's view of an IPv4 loopback client).
bool is_loopback(const sockaddr* sa) {
  auto a = policy::Address::from_sockaddr(sa);
  if (!a) return false;
  const policy::Address n = a->normalised();
  if (n.is_v4()) return n.bytes[0] == 127;
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  return n.bytes == one;
}

}  // namespace

ClientSession::ClientSession(AgentContext& ctx, GoneFn gone) : ctx_(ctx), gone_(std::move(gone)) {
  conn_ = std::make_unique<uv::TcpConnection>(ctx_.loop, [this](uv::TcpConnection& c) {
    // An open still under way is cancelled. A stream that ended with FINs both ways may still have
    // queued bytes and its FIN to send: only one that was aborted is reset.
    ctx_.links->cancel(this);
    opening_.reset(frame::ResetCode::Cancel);
    direct_opening_.reset();
    if (direct_) direct_->end(c.ended_cleanly());
    if (http_) http_->end(c.ended_cleanly());
    stage_ = Stage::Done;
    if (auto on_gone = std::move(gone_)) on_gone(*this);  // from a copy: it deletes this, and gone_ with it
  });
}

ClientSession::~ClientSession() = default;

Result<void> ClientSession::accept(uv_stream_t* server) {
  if (int r = conn_->accept_from(server); r != 0) {
    conn_->close_after_writes();
    return fail(Errc::Io, "accept", r);
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(conn_->socket(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    peer_ = uv::format_socket_address(reinterpret_cast<sockaddr*>(&ss));
    may_go_direct_ = ctx_.config->auth || is_loopback(reinterpret_cast<const sockaddr*>(&ss));
  }
  // The local address, not the configured one: a listener on 0.0.0.0 or [::] is reached at a real
  // address, and local pages answer only a Host that names it. Unknown, they answer no Host at all.
  len = sizeof local_;
  if (uv_tcp_getsockname(conn_->socket(), reinterpret_cast<sockaddr*>(&local_), &len) != 0) local_ = {};
  // Slowloris and idle sockets: a handshake must finish within the timeout from accept, or the socket
  // closes. A deadline, not an idle timer: a byte every few seconds must not keep it open.
  conn_->set_deadline(ctx_.handshake_timeout_ms);
  conn_->read_raw([this](ByteSpan b) { on_bytes(b); });
  return {};
}

void ClientSession::shutdown() {
  if (http_) http_->shutdown();
  conn_->abort(frame::ResetCode::Cancel);
}

void ClientSession::drain() {
  if (http_) return http_->drain();
  if (stage_ == Stage::Sniff && inbox_.empty()) {  // nothing said, nothing owed: no linger either
    stage_ = Stage::Done;
    conn_->abort(frame::ResetCode::Cancel);
  }
}

void ClientSession::on_bytes(ByteSpan bytes) {
  if (bytes.empty()) {  // EOF or error
    if (http_) return http_->on_client_eof();
    // A client may send its whole request and half-close before the relay answers: keep going, and
    // pass the FIN on once the stream is open.
    if (stage_ == Stage::Opening) return void(client_eof_ = true);
    return conn_->abort(frame::ResetCode::Cancel);
  }
  if (stage_ == Stage::Http) return http_->on_client_bytes(bytes);
  if (stage_ == Stage::Opening) {
    // Early data (a TLS ClientHello right behind the CONNECT): the stream's first bytes, however many.
    // They wait here, and reading pauses until the stream exists (start() resumes it).
    inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
    return conn_->pause_raw();
  }
  if (inbox_.size() + bytes.size() > kMaxHandshakeBytes) {
    if (protocol_ == sniff::Protocol::Http)
      return refuse(
          http1::error_response(431, "The request head is larger than this proxy accepts (32 KiB)."),
          "request head too large");
    return refuse({}, "handshake too large");
  }
  const std::size_t before = inbox_.size();
  inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  if (stage_ == Stage::HttpHead && !http1::head_may_be_decided(inbox_, before)) return;  // still "need more"
  step();
}

void ClientSession::step() {
  switch (stage_) {
    case Stage::Sniff:
      protocol_ = sniff::sniff(inbox_.front());
      stage_ = protocol_ == sniff::Protocol::Socks5   ? Stage::Socks5Greeting
               : protocol_ == sniff::Protocol::Socks4 ? Stage::Socks4Request
                                                      : Stage::HttpHead;
      return step();
    case Stage::Socks5Greeting:
      return socks5_greeting();
    case Stage::Socks5Auth:
      return socks5_auth();
    case Stage::Socks5Request:
      return socks5_request();
    case Stage::Socks4Request:
      return socks4_request();
    case Stage::HttpHead:
      return http_head();
    default:
      return;  // Opening: bytes wait in the inbox for the stream
  }
}

void ClientSession::refuse(Bytes reply, const std::string& why) {
  log_refusal(why);
  stage_ = Stage::Done;
  conn_->stop_raw();
  if (!reply.empty()) conn_->write_now(std::move(reply));
  conn_->close_after_writes();
}

void ClientSession::log_refusal(const std::string& why) {
  log::info("agent", peer_ + " " + sniff::protocol_name(protocol_) + ": " + why);
}

void ClientSession::socks5_greeting() {
  auto g = socks5::decode_greeting(inbox_);
  if (!g)
    return refuse(socks5::encode_method_choice(socks5::kMethodNoAcceptableMethods),
                  std::string("bad greeting: ") + g.error().what);
  if (!g->msg) return;
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(g->used));
  const std::uint8_t want =
      ctx_.config->auth ? socks5::kMethodUsernamePassword : socks5::kMethodNoAuthenticationRequired;
  if (!g->msg->offers(want))
    return refuse(
        socks5::encode_method_choice(socks5::kMethodNoAcceptableMethods),
        ctx_.config->auth ? "client offers no username/password method" : "client offers no usable method");
  conn_->write_now(socks5::encode_method_choice(want));
  stage_ = ctx_.config->auth ? Stage::Socks5Auth : Stage::Socks5Request;
  if (!inbox_.empty()) step();
}

void ClientSession::socks5_auth() {
  auto up = socks5::decode_userpass(inbox_);
  if (!up)
    return refuse(socks5::encode_userpass_status(false),
                  std::string("bad username/password message: ") + up.error().what);
  if (!up->msg) return;
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(up->used));
  if (!credentials_match(*ctx_.config, up->msg->user, up->msg->pass))
    return refuse(socks5::encode_userpass_status(false), "wrong username or password");
  conn_->write_now(socks5::encode_userpass_status(true));
  stage_ = Stage::Socks5Request;
  if (!inbox_.empty()) step();
}

void ClientSession::socks5_request() {
  auto req = socks5::decode_request(inbox_);
  if (!req)
    return refuse(socks5::encode_reply(socks5::rep_for(req.error())),
                  std::string("bad request: ") + req.error().what);
  if (!req->msg) return;
  if (req->msg->cmd != socks5::kCmdConnect)
    return refuse(socks5::encode_reply(socks5::kRepCommandNotSupported),
                  "only CONNECT is supported (BIND, UDP ASSOCIATE: 0x07)");
  open(req->msg->target, req->used);
}

void ClientSession::socks4_request() {
  auto req = socks4::decode_request(inbox_);
  const Bytes rejected = socks4::encode_reply(socks4::kRequestRejectedOrFailed);
  if (!req) return refuse(rejected, std::string("bad request: ") + req.error().what);
  if (!req->msg) return;
  if (req->msg->cmd != socks4::kCmdConnect) return refuse(rejected, "only CONNECT is supported");
  // SOCKS4 cannot carry a password: with [auth] it is refused outright (docs/spec.md 6.4).
  if (ctx_.config->auth) return refuse(rejected, "SOCKS4 cannot authenticate and [auth] is set");
  open(req->msg->target, req->used);
}

// The first HTTP request: a CONNECT becomes a plain pipe (the common case, kept zero-copy); anything
// else goes to the forwarder, which handles keep-alive and pipelining from there on.
void ClientSession::http_head() {
  auto d = http1::decode_request_head(inbox_);
  if (!d)
    return refuse(http1::error_response(http1::status_for(d.error()),
                                        std::string("The request is malformed: ") + d.error().what + ".\n"),
                  std::string("bad request: ") + d.error().what);
  if (!d->msg) return;
  if (d->msg->method != "CONNECT") {
    stage_ = Stage::Http;
    conn_->set_idle_timeout(kKeepAliveIdleMs);
    http_ = std::make_unique<HttpForwarder>(ctx_, *conn_, peer_, local_, may_go_direct_);
    Bytes all;
    all.swap(inbox_);
    return http_->on_client_bytes(all);
  }
  if (!http_authorised(*ctx_.config, *d->msg))
    return refuse(http1::error_response(
                      407, "This proxy needs a username and password (Proxy-Authorization: Basic).\n"),
                  "proxy authentication missing or wrong");
  auto rt = http1::parse_authority_form(d->msg->target);
  if (!rt)
    return refuse(
        http1::error_response(400, std::string("CONNECT needs HOST:PORT: ") + rt.error().what + ".\n"),
        std::string("bad CONNECT target: ") + rt.error().what);
  open(rt->target, d->used);
}

void ClientSession::open(const Target& target, std::size_t request_bytes) {
  if (ctx_.draining) {
    const std::string why = "the agent is stopping: no new connections";
    if (protocol_ == sniff::Protocol::Socks5)
      return refuse(socks5::encode_reply(socks5::kRepGeneralSocksServerFailure), why);
    if (protocol_ == sniff::Protocol::Socks4)
      return refuse(socks4::encode_reply(socks4::kRequestRejectedOrFailed), why);
    return refuse(http1::error_response(503, "The proxy is shutting down; it takes no new connections.\n"),
                  why);
  }
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(request_bytes));
  target_ = target;
  stage_ = Stage::Opening;
  conn_->set_idle_timeout(
      0);  // the handshake is over; the link bounds the wait (and the relay's connect timeout)
  if (may_go_direct_ && ctx_.goes_direct && ctx_.goes_direct(target)) {
    direct_opening_ = DirectStream::make(ctx_.loop, target, ctx_.direct_lookups, *this);
    return direct_opening_->start();  // the answer comes to on_open_result, perhaps at once
  }
  // SOCKS4 has no early reply: its clients are old tools that expect the truth.
  const config::EarlyReply mode = protocol_ == sniff::Protocol::Socks5 ? ctx_.config->socks_early_reply
                                  : protocol_ == sniff::Protocol::Http ? ctx_.config->http_early_reply
                                                                       : config::EarlyReply::Never;
  early_ =
      mode == config::EarlyReply::Always ||
      (mode == config::EarlyReply::Warm && ctx_.warm.warm(target, uv_now(ctx_.loop), ctx_.routes_version));
  ctx_.links->open(target, this);  // the answer comes to on_open_result
}

void ClientSession::on_open_sent(const link::StreamRef& ref) {
  opening_ = ref;
  // Only a link whose relay agreed to hold early data: an older relay gets the truthful wait.
  const link::Mux* mux = ref.mux();
  if (early_ && stage_ == Stage::Opening && mux && mux->early_data())
    answer_early(std::exchange(opening_, {}));
}

// The client hears "connected" now and sends its first bytes (a ClientHello) at once; they follow the
// OPEN in the link's next record, and the relay writes them to the target as soon as it connects. The
// relay's answer reaches the pipe, and on_early_answer(), later.
void ClientSession::answer_early(link::StreamRef stream) {
  ++ctx_.early_replies;
  stage_ = Stage::Piping;
  piping_since_ms_ = uv_now(ctx_.loop);
  conn_->write_now(protocol_ == sniff::Protocol::Socks5
                       ? socks5::encode_reply(socks5::rep_for(frame::OpenCode::Ok))
                       : http1::connect_established());
  pipe_to(std::move(stream), [this](const frame::OpenResult& r) { on_early_answer(r); });
}

// The client's socket and the stream are piped from now on (the stream's events go to the pipe, and
// bytes the client sent after its request go first). A client that already half-closed has its FIN
// passed on instead of a reader started.
void ClientSession::pipe_to(link::StreamRef stream, uv::SocketPipe::AnswerFn answer) {
  pipe_ = std::make_unique<uv::SocketPipe>(*conn_);
  if (answer) pipe_->on_answer(std::move(answer));
  pipe_->attach(stream, inbox_);
  inbox_.clear();
  if (client_eof_) {
    stream.finish();
    conn_->mark_read_done();
    return;
  }
  pipe_->start();
}

// The relay's answer to a stream the client was told had connected. A refusal cannot be told in
// SOCKS or HTTP any more: a SOCKS client's connection is reset and a CONNECT client's closed, so that
// neither mistakes it for a server that said nothing, and the log and the status page say why.
void ClientSession::on_early_answer(const frame::OpenResult& r) {
  if (r.code == frame::OpenCode::Ok)
    return ctx_.warm.reached(target_, uv_now(ctx_.loop), ctx_.routes_version);
  ++ctx_.early_refused;
  ctx_.warm.forget(target_);
  ctx_.refusals.add(peer_, target_.to_string(), r);
  // A CONNECT client is closed for a refusal (the target's answer), but reset like a SOCKS client for
  // a failure (the link went down before the relay answered): nothing says the target refused it.
  const bool reset = protocol_ == sniff::Protocol::Socks5 || r.code == frame::OpenCode::Failure;
  log_refusal(target_.to_string() + ": " + frame::open_code_name(r.code) +
              (r.reason.empty() ? "" : " (" + r.reason + ")") + " after an early reply; the connection was " +
              (reset ? "reset" : "closed"));
  stage_ = Stage::Done;
  if (reset) return conn_->abort(frame::ResetCode::Cancel, true);
  // A lingering close, not close(2): the client's request may still be on its way, and a socket
  // closed with bytes unread (or arriving after) answers them with RST, which a client may read
  // before the FIN. Read and drop until its EOF, at most kLingerMs.
  conn_->close_after_writes();
}

void ClientSession::on_open_result(const frame::OpenResult& r) {
  link::StreamRef stream = std::exchange(opening_, {});
  if (stage_ != Stage::Opening) {  // refused meanwhile (the client broke a limit): drop the stream
    if (r.code == frame::OpenCode::Ok) stream.reset(frame::ResetCode::Cancel);
    direct_opening_.reset();
    return;
  }
  const bool ok = r.code == frame::OpenCode::Ok;
  const bool direct = direct_opening_ != nullptr;
  Bytes reply;
  if (protocol_ == sniff::Protocol::Socks5) reply = socks5::encode_reply(socks5::rep_for(r.code));
  if (protocol_ == sniff::Protocol::Socks4) reply = socks4::encode_reply(socks4::code_for(r.code));
  if (protocol_ == sniff::Protocol::Http)
    reply = ok ? http1::connect_established()
               : http1::error_response(http1::status_for(r.code), explain(r, target_));
  if (!direct) {  // what the relay connected is warm; what it refused or could not reach is not
    if (ok)
      ctx_.warm.reached(target_, uv_now(ctx_.loop), ctx_.routes_version);
    else
      ctx_.warm.forget(target_);
  }
  if (!ok) {
    direct_opening_.reset();  // its socket is closing already; it says nothing more
    ctx_.refusals.add(peer_, target_.to_string(), r);
    return refuse(std::move(reply), target_.to_string() + ": " + frame::open_code_name(r.code) +
                                        (r.reason.empty() ? "" : " (" + r.reason + ")"));
  }
  stage_ = Stage::Piping;
  piping_since_ms_ = uv_now(ctx_.loop);  // the raw reader stays on until start() makes the pipe the reader
  conn_->write_now(std::move(reply));
  if (direct) return start_direct();
  pipe_to(std::move(stream));
}

// Split mode: the target is outside the routes and answered the laptop's own dial. One line per
// connection says so, so that the user can see what went where.
void ClientSession::start_direct() {
  log::info("agent", peer_ + " " + sniff::protocol_name(protocol_) + ": " + target_.to_string() +
                         " directly from this computer (outside the routes), connected to " +
                         direct_opening_->dialled());
  conn_->set_idle_timeout(DirectStream::kIdleTimeoutMs);  // no relay bounds this one
  direct_ = std::make_unique<DirectPipe>(*conn_, std::move(direct_opening_), inbox_);
  inbox_.clear();
  direct_->start(client_eof_);
}

std::optional<StreamSnapshot> ClientSession::snapshot() const {
  if (http_) return http_->snapshot();
  if (direct_)
    return StreamSnapshot{peer_, target_.to_string() + " (direct)", direct_->counters().to_target,
                          direct_->counters().from_target, (uv_now(ctx_.loop) - piping_since_ms_) / 1000};
  if (stage_ != Stage::Piping || !pipe_) return std::nullopt;
  return StreamSnapshot{peer_, target_.to_string(), pipe_->counters().to_link, pipe_->counters().from_link,
                        (uv_now(ctx_.loop) - piping_since_ms_) / 1000};
}

// Until the answer, the mux sends nothing else for the stream: DATA before OPEN_RESULT breaks the
// protocol, and a reset before it arrives as a failed result. After it, the pipe is bound instead.
void ClientSession::on_data(ByteSpan) {}
void ClientSession::on_fin() {}
void ClientSession::on_reset(frame::ResetCode) {}

}  // namespace ferry::agent
