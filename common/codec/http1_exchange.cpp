#include "common/codec/http1_exchange.hpp"

#include <algorithm>

#include "common/codec/http1_head_progress.hpp"
#include "common/codec/http1_response.hpp"
#include "common/codec/http1_rewrite.hpp"

namespace ferry::http1 {

const char* name(ClientState s) noexcept {
  switch (s) {
    case ClientState::Head:
      return "head";
    case ClientState::Body:
      return "body";
    case ClientState::Waiting:
      return "waiting";
    case ClientState::Tunnel:
      return "tunnel";
    case ClientState::Closed:
      return "closed";
  }
  return "?";
}

const char* name(ResponseState s) noexcept {
  switch (s) {
    case ResponseState::None:
      return "none";
    case ResponseState::Head:
      return "head";
    case ResponseState::Body:
      return "body";
  }
  return "?";
}

const char* name(OriginState s) noexcept {
  switch (s) {
    case OriginState::None:
      return "none";
    case OriginState::Opening:
      return "opening";
    case OriginState::Open:
      return "open";
    case OriginState::Full:
      return "full";
  }
  return "?";
}

const char* name(ActionKind k) noexcept {
  switch (k) {
    case ActionKind::Open:
      return "open";
    case ActionKind::ToOrigin:
      return "to-origin";
    case ActionKind::FinishOrigin:
      return "finish-origin";
    case ActionKind::Release:
      return "release";
    case ActionKind::ToClient:
      return "to-client";
    case ActionKind::Credit:
      return "credit";
    case ActionKind::Reply:
      return "reply";
    case ActionKind::ClientEnded:
      return "client-ended";
    case ActionKind::FinishClient:
      return "finish-client";
    case ActionKind::CloseClient:
      return "close-client";
    case ActionKind::AbortClient:
      return "abort-client";
    case ActionKind::Log:
      return "log";
  }
  return "?";
}

Exchange::Exchange(ExchangeRules rules) : rules_(std::move(rules)), draining_(rules_.draining) {}

std::optional<Action> Exchange::next_action() {
  if (actions_.empty()) return std::nullopt;
  Action a = std::move(actions_.front());
  actions_.pop_front();
  return a;
}

bool Exchange::wants_client_bytes() const noexcept {
  if (closed() || origin_state_ == OriginState::Full || early_full_ || waiting_.size() > kMaxInbox / 2)
    return false;
  // A tunnel's bytes go straight on; what the client leaves unread is bounded by the stream's credit.
  if (client_ == ClientState::Tunnel) return true;
  return inbox_bytes() <= kMaxInbox / 2 && unwritten_ < kMaxInbox;
}

std::string Exchange::describe() const {
  return std::string("client=") + name(client_) + " response=" + name(response_) +
         " origin=" + name(origin_state_);
}

// ---- Client side ----

void Exchange::on_client_bytes(ByteSpan bytes) {
  if (closed() || bytes.empty()) return;
  if (client_ == ClientState::Tunnel) return to_origin(bytes);
  const std::size_t before = inbox_bytes();
  inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  if (head_undecided_ && head_may_be_decided(unread(), before)) head_undecided_ = false;
  pump();
}

void Exchange::on_client_eof() {
  if (closed() || client_eof_) return;
  client_eof_ = true;
  switch (client_) {
    case ClientState::Tunnel:
      if (origin_state_ == OriginState::Open || origin_state_ == OriginState::Full)
        emit(ActionKind::FinishOrigin);  // while the stream opens, the FIN waits for it
      emit(ActionKind::ClientEnded);
      return;
    case ClientState::Head:
      return pump();  // pipelined requests first, then the close
    case ClientState::Waiting:
      return;  // the answer may still come; then the connection closes
    default:
      return close_client();  // a request body cut short
  }
}

void Exchange::on_client_written(std::size_t bytes) {
  unwritten_ -= std::min(bytes, unwritten_);
  pump();  // pipelined requests waited for the client to read
}

void Exchange::consume(std::size_t n) {
  inbox_start_ += n;
  if (inbox_start_ == inbox_.size()) {
    inbox_.clear();
    inbox_start_ = 0;
  } else if (inbox_start_ > inbox_.size() / 2) {  // moves each byte at most once more on average
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(inbox_start_));
    inbox_start_ = 0;
  }
}

// Starts the pipelined requests whose turn it is, forwards the body under way, and closes a
// connection whose client has finished and left no whole request.
void Exchange::pump() {
  while (client_ == ClientState::Head && inbox_bytes() > 0 && unwritten_ < kMaxInbox) {
    if (!start_request()) break;
  }
  if (client_ == ClientState::Body) forward_request_body();
  if (client_ == ClientState::Head && client_eof_ && (inbox_bytes() == 0 || head_undecided_)) close_client();
}

// Parses the next request head and starts its exchange. False: more bytes are needed, the request
// turned the connection into something else (a tunnel), or it failed.
bool Exchange::start_request() {
  if (head_undecided_) return false;  // no byte since the last try could complete it
  auto d = decode_request_head(unread());
  if (!d) {
    fail(status_for(d.error()), std::string("The request is malformed: ") + d.error().what + ".");
    return false;
  }
  if (!d->msg) {
    head_undecided_ = true;
    return false;
  }
  req_ = std::move(*d->msg);
  consume(d->used);
  auto rt = parse_request_target(req_.method, req_.target);
  if (!rt) {
    fail(400, std::string("The request target is not usable by a proxy: ") + rt.error().what + ".");
    return false;
  }
  const bool local = rt->form == TargetForm::Origin || rt->form == TargetForm::Asterisk;
  if (local) {
    const Header* host = find_header(req_.headers, "Host");
    if (!host || !rules_.host_is_local || !rules_.host_is_local(host->value)) {
      misdirected();  // before 407: a rebound page gets no password prompt either
      return false;
    }
  }
  if (rules_.authorised && !rules_.authorised(req_)) {
    log("HTTP: proxy authentication missing or wrong");
    fail(407, "This proxy needs a username and password (Proxy-Authorization: Basic).");
    return false;
  }
  if (local) {
    local_page(*rt);
    return client_ == ClientState::Head;
  }
  if (draining_) {
    log("HTTP: the agent is stopping: no new connections");
    fail(503, "The proxy is shutting down; it takes no new connections.");
    return false;
  }
  return start_forward(*rt);
}

bool Exchange::start_forward(const RequestTarget& rt) {
  upgrade_ = false;
  if (rt.form == TargetForm::Authority) {  // CONNECT after other requests: a tunnel from here on
    keep_alive_ = false;
    client_ = ClientState::Tunnel;
    release();
    open(rt.target);
    return false;
  }
  auto framing = request_body(req_);
  if (!framing) {
    fail(400, std::string("The request body framing is invalid: ") + framing.error().what + ".");
    return false;
  }
  req_body_ = *framing;
  req_left_ = framing->length;
  req_chunks_ = ChunkedScanner{};
  upgrade_ = wants_upgrade(req_);
  auto fwd = rewrite_request(req_, rt, upgrade_);
  keep_alive_ = fwd.keep_alive && !upgrade_;
  response_ = ResponseState::Head;
  resp_head_.clear();
  const bool reuse = (origin_state_ == OriginState::Open || origin_state_ == OriginState::Full) &&
                     origin_ == rt.target && origin_reusable_;
  if (!reuse) {
    release();
    open(rt.target);
  }
  client_ = ClientState::Body;
  to_origin(fwd.bytes);
  return true;
}

void Exchange::local_page(const RequestTarget& rt) {
  if (req_.method == "GET" && rt.origin_form == "/status" && rules_.status_json)
    return serve_page(rules_.status_json(), "application/json");
  if (req_.method == "GET" && rt.origin_form == "/" && rules_.status_html)
    return serve_page(rules_.status_html(), "text/html; charset=utf-8");
  // no-cache, not no-store: a browser may keep it, but asks again each time, so a relay's new routes
  // reach it at once.
  if (req_.method == "GET" && rt.origin_form == "/proxy.pac" && rules_.proxy_pac)
    return serve_page(rules_.proxy_pac(), "application/x-ns-proxy-autoconfig", "no-cache");
  fail(404,
       "This is ferry's proxy port. Use it as a proxy (curl -x http://HOST:PORT http://target/), or GET / "
       "(the status page), /status (JSON) or /proxy.pac (the office's routes).");
}

void Exchange::serve_page(const std::string& body, const char* content_type, const char* cache) {
  const bool keep = client_keep_alive(req_) && !draining_;  // a draining agent keeps nothing open
  // nosniff and a CSP that allows no script or external resource: the page quotes host names that
  // clients sent.
  const std::string page = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(content_type) +
                           "\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nCache-Control: " + cache +
                           "\r\nX-Content-Type-Options: nosniff\r\n"
                           "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
                           "Connection: " +
                           (keep ? "keep-alive" : "close") + "\r\n\r\n" + body;
  to_client(ByteSpan(reinterpret_cast<const std::uint8_t*>(page.data()), page.size()), 0, 200);
  if (!keep) close_client();
}

void Exchange::misdirected() {
  const Header* host = find_header(req_.headers, "Host");
  log("HTTP: " + req_.target.substr(0, 64) + " with Host " +
      (host ? "\"" + host->value.substr(0, 64) + "\"" : std::string("none")) +
      ", which is not this port: 421");
  fail(421, "Misdirected request: this port's own pages answer only Host " + rules_.local_host_hint + ".");
}

void Exchange::forward_request_body() {
  if (req_body_.kind == BodyKind::Length) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(req_left_, inbox_bytes()));
    to_origin(unread().first(n));
    consume(n);
    req_left_ -= n;
    if (req_left_ > 0) return;
  } else if (req_body_.kind == BodyKind::Chunked) {
    auto p = req_chunks_.feed(unread());
    if (!p) return fail(400, std::string("The chunked request body is malformed: ") + p.error().what + ".");
    to_origin(unread().first(p->used));
    consume(p->used);
    if (!p->done) return;
  }
  client_ = ClientState::Waiting;
}

// ---- Origin side ----

void Exchange::on_origin_open() {
  if (origin_state_ != OriginState::Opening) {  // nobody waits for it
    emit(ActionKind::Release);
    return;
  }
  early_ = false;
  origin_state_ = std::exchange(early_full_, false) ? OriginState::Full : OriginState::Open;
  origin_reusable_ = false;
  if (client_ == ClientState::Tunnel) {
    reply(connect_established(), 200);
    // Bytes that came with the CONNECT head precede anything read after it.
    waiting_.insert(waiting_.begin(), unread().begin(), unread().end());
    consume(inbox_bytes());
  }
  Bytes waiting;
  waiting.swap(waiting_);
  to_origin(waiting);
  if (client_ == ClientState::Tunnel && client_eof_) emit(ActionKind::FinishOrigin);
  pump();
}

void Exchange::on_origin_takes_early() {
  if (origin_state_ != OriginState::Opening || client_ == ClientState::Tunnel || early_) return;
  early_ = true;
  Bytes waiting;
  waiting.swap(waiting_);
  to_origin(waiting);
  pump();
}

void Exchange::on_origin_refused(frame::OpenCode code, std::string_view reason, std::string explanation) {
  if (origin_state_ != OriginState::Opening) return;
  early_ = early_full_ = false;
  origin_state_ = OriginState::None;
  waiting_.clear();
  log("HTTP " + origin_.to_string() + ": " + frame::open_code_name(code) +
      (reason.empty() ? "" : " (" + std::string(reason) + ")"));
  fail(status_for(code), explanation);
}

void Exchange::on_origin_bytes(ByteSpan bytes) {
  switch (client_) {
    case ClientState::Closed:
      return;
    case ClientState::Tunnel:
      return to_client(bytes, bytes.size());
    case ClientState::Head:  // an idle kept-alive origin spoke unasked (a 408, say): drop it
      if (!bytes.empty() && origin_state_ != OriginState::None && origin_state_ != OriginState::Opening)
        emit(ActionKind::Credit).credit = bytes.size();
      return release();
    default:
      return response_bytes(bytes);
  }
}

void Exchange::on_origin_fin() {
  switch (client_) {
    case ClientState::Tunnel:
      emit(ActionKind::FinishClient);
      return;
    case ClientState::Closed:
      return;
    case ClientState::Head:
      return release();  // an idle kept-alive origin closed: fine
    default:
      break;
  }
  origin_reusable_ = false;
  if (response_ != ResponseState::Body)
    return fail(502, "The origin closed the connection without a complete response.");
  close_client();  // a body read until close ends here, or one cut short: the client sees the end
}

void Exchange::on_origin_reset() {
  early_ = early_full_ = false;
  origin_state_ = OriginState::None;  // the stream is gone: nothing to release
  origin_reusable_ = false;
  waiting_.clear();
  if (client_ == ClientState::Closed || client_ == ClientState::Head) return;  // no exchange used it
  if ((client_ == ClientState::Body || client_ == ClientState::Waiting) && response_ != ResponseState::Body)
    return fail(502, "The connection to the origin broke before it answered.");
  close_client();
}

void Exchange::on_origin_full() {
  if (origin_state_ == OriginState::Open) origin_state_ = OriginState::Full;
  if (origin_state_ == OriginState::Opening && early_) early_full_ = true;
}

void Exchange::on_origin_writable() {
  early_full_ = false;
  if (origin_state_ == OriginState::Full) origin_state_ = OriginState::Open;
  pump();
}

void Exchange::response_bytes(ByteSpan bytes) {
  if (response_ == ResponseState::Body) return forward_response_body(bytes);
  resp_head_.insert(resp_head_.end(), bytes.begin(), bytes.end());
  response_head();
}

// Forwards the buffered response heads: interim ones (1xx) one after another, then the final one and
// whatever body came with it.
void Exchange::response_head() {
  while (response_ == ResponseState::Head) {
    auto d = decode_response_head(resp_head_);
    if (!d) return fail(502, std::string("The origin sent a malformed response: ") + d.error().what + ".");
    if (!d->msg) {
      if (resp_head_.size() > kMaxResponseHead)
        return fail(502, "The origin sent a response head larger than 64 KiB.");
      return;
    }
    const ResponseHead& head = *d->msg;
    const int status = head.line.status;
    if (status == 101 && !upgrade_) {
      // Turning into a tunnel now would send the client's next pipelined request (perhaps for another
      // origin, with its Proxy-Authorization) to this origin, in a protocol nobody asked for.
      log("HTTP " + origin_.to_string() + ": 101 to a request without Upgrade: 502");
      return fail(502, "The origin switched protocols without being asked.");
    }
    const bool interim = status >= 100 && status < 200 && status != 101;
    auto framing = response_body(req_.method, head);
    if (!interim && !framing)  // checked before the head goes out, so the client gets a clean 502
      return fail(502,
                  std::string("The origin's response framing is invalid: ") + framing.error().what + ".");
    // The client gets the head rewritten for its own connection; the credit is for what the origin sent.
    to_client(rewrite_response(head, keep_alive() || status == 101), d->used);
    resp_head_.erase(resp_head_.begin(), resp_head_.begin() + static_cast<std::ptrdiff_t>(d->used));
    if (interim) continue;  // the final response follows

    Bytes rest;
    rest.swap(resp_head_);
    resp_body_ = *framing;
    resp_left_ = framing->length;
    resp_chunks_ = ChunkedScanner{};
    response_ = ResponseState::Body;
    origin_reusable_ = head.line.version == Version::Http11 &&
                       !has_token(head.headers, "Connection", "close") &&
                       (framing->kind == BodyKind::Length || framing->kind == BodyKind::Chunked ||
                        framing->kind == BodyKind::None);
    if (framing->kind == BodyKind::Tunnel) return become_tunnel_after_upgrade(rest);
    return forward_response_body(rest);
  }
}

// 101 Switching Protocols to a request that asked for it: bytes flow both ways as they are.
void Exchange::become_tunnel_after_upgrade(ByteSpan rest) {
  client_ = ClientState::Tunnel;
  keep_alive_ = false;
  to_client(rest, rest.size());
  Bytes early(unread().begin(), unread().end());
  consume(inbox_bytes());
  to_origin(early);
  if (client_eof_) {  // the client finished while the origin answered: the FIN goes on now
    emit(ActionKind::FinishOrigin);
    emit(ActionKind::ClientEnded);
  }
}

void Exchange::forward_response_body(ByteSpan bytes) {
  switch (resp_body_.kind) {
    case BodyKind::None:
      break;
    case BodyKind::Length: {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(resp_left_, bytes.size()));
      to_client(bytes.first(n), n);
      resp_left_ -= n;
      bytes = bytes.subspan(n);
      if (resp_left_ > 0) return;
      break;
    }
    case BodyKind::Chunked: {
      auto p = resp_chunks_.feed(bytes);
      if (!p) return close_client();  // the head is out: all we can do is cut the connection
      to_client(bytes.first(p->used), p->used);
      bytes = bytes.subspan(p->used);
      if (!p->done) return;
      break;
    }
    case BodyKind::CloseDelimited:
    case BodyKind::Tunnel:
      return to_client(bytes, bytes.size());
  }
  if (!bytes.empty()) origin_reusable_ = false;  // bytes after the response: this origin is confused
  response_done();
}

void Exchange::response_done() {
  response_ = ResponseState::None;
  if (!origin_reusable_) release();
  // A response that ends before its request (an early 413, say) leaves the rest of the body unread.
  if (client_ == ClientState::Body || !keep_alive()) return close_client();
  client_ = ClientState::Head;
  pump();  // pipelined requests first, even after the client's FIN
}

// ---- Actions ----

Action& Exchange::emit(ActionKind kind) {
  Action& a = actions_.emplace_back();
  a.kind = kind;
  return a;
}

void Exchange::open(const Target& target) {
  early_ = early_full_ = false;
  origin_ = target;
  origin_state_ = OriginState::Opening;
  origin_reusable_ = false;
  emit(ActionKind::Open).target = target;
}

void Exchange::release() {
  if (origin_state_ == OriginState::None) return;
  emit(ActionKind::Release);
  origin_state_ = OriginState::None;
  origin_reusable_ = false;
  early_ = early_full_ = false;
  waiting_.clear();
}

void Exchange::to_origin(ByteSpan bytes) {
  if (bytes.empty()) return;
  if (origin_state_ == OriginState::Opening && !early_) {  // they leave once the stream is open
    waiting_.insert(waiting_.end(), bytes.begin(), bytes.end());
    return;
  }
  if (origin_state_ == OriginState::None) return;  // the stream is gone, and the exchange with it
  emit(ActionKind::ToOrigin).bytes.assign(bytes.begin(), bytes.end());
}

void Exchange::to_client(ByteSpan bytes, std::size_t credit, int status) {
  if (bytes.empty()) return;
  unwritten_ += bytes.size();
  Action& a = emit(ActionKind::ToClient);
  a.bytes.assign(bytes.begin(), bytes.end());
  a.credit = credit;
  a.status = status;
}

void Exchange::reply(Bytes bytes, int status) {
  Action& a = emit(ActionKind::Reply);
  a.bytes = std::move(bytes);
  a.status = status;
}

void Exchange::log(std::string text) { emit(ActionKind::Log).text = std::move(text); }

void Exchange::fail(int status, const std::string& text) {
  if (closed()) return;
  if (response_ == ResponseState::Body) return close_client();  // a response is under way: cut it
  reply(error_response(status, text), status);
  close_client();
}

void Exchange::close_client() {
  if (closed()) return;
  std::string was = describe();
  client_ = ClientState::Closed;
  release();
  emit(ActionKind::CloseClient).text = std::move(was);
}

void Exchange::drain() {
  draining_ = true;  // the answer under way is the last (keep_alive())
  if (client_ != ClientState::Head || inbox_bytes() > 0) return;
  // Between requests: closes once the last answer is out. Idle: nothing is owed, so no linger either.
  if (unwritten_ > 0) return close_client();
  std::string was = describe();
  client_ = ClientState::Closed;
  release();
  emit(ActionKind::AbortClient).text = std::move(was);
}

void Exchange::abort() {
  release();
  client_ = ClientState::Closed;
}

}  // namespace ferry::http1
