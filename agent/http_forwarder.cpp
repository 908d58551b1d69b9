#include "agent/http_forwarder.hpp"

#include <sodium.h>

#include "agent/head_progress.hpp"
#include "agent/local_host.hpp"
#include "agent/proxy_words.hpp"
#include "common/codec/http1_response.hpp"
#include "common/codec/http1_rewrite.hpp"
#include "common/log.hpp"

namespace ferry::agent {
namespace {

constexpr std::size_t kMaxResponseHead = 64 * 1024;

}  // namespace

HttpForwarder::HttpForwarder(AgentContext& ctx, uv::SocketPipe& client, StreamOwner& owner, std::string peer,
                             const sockaddr_storage& local)
    : ctx_(ctx), client_(client), owner_(owner), peer_(std::move(peer)), local_(local) {}

HttpForwarder::~HttpForwarder() = default;

void HttpForwarder::shutdown() { release_stream(true); }

void HttpForwarder::drain() {
  if (phase_ == Phase::Tunnel || phase_ == Phase::Closing) return;
  keep_alive_ = false;  // response_done() closes once the answer under way is out
  if (phase_ != Phase::Head || !inbox_.empty()) return;
  // Between requests: closes once the last answer is out. Idle: nothing is owed, so no linger either.
  if (client_.pending_writes() > 0) return close_client();
  phase_ = Phase::Closing;
  release_stream(true);
  client_.abort(frame::ResetCode::Cancel);
}

void HttpForwarder::on_client_bytes(ByteSpan bytes) {
  if (phase_ == Phase::Closing) return;
  if (phase_ == Phase::Tunnel) return send_to_origin(bytes);
  const std::size_t before = inbox_.size();
  inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  if (head_incomplete_ && head_may_be_decided(inbox_, before)) head_incomplete_ = false;
  if (inbox_.size() > kMaxInbox) client_.pause_handshake();  // pipelined requests wait their turn
  process();
}

void HttpForwarder::process() {
  // A client that pipelines requests without reading the answers stops being read (GET /status
  // would otherwise turn a small request into an unbounded write queue).
  while (phase_ == Phase::Head && !inbox_.empty() && client_.pending_writes() < kMaxInbox) {
    if (!start_request()) break;
  }
  if (phase_ == Phase::Body) forward_request_body();
  maybe_resume_client();
}

void HttpForwarder::maybe_resume_client() {
  const bool full = inbox_.size() > kMaxInbox / 2 || to_origin_.size() > kMaxInbox / 2 || upstream_blocked_ ||
                    client_.pending_writes() >= kMaxInbox;
  if (full || phase_ == Phase::Closing) return client_.pause_handshake();
  client_.resume_handshake();
}

// Parses the next request head and starts its exchange. False: more bytes are needed, or it failed.
bool HttpForwarder::start_request() {
  if (head_incomplete_) return false;  // no byte since the last try could complete it
  auto d = http1::decode_request_head(inbox_);
  if (!d)
    return fail(http1::status_for(d.error()),
                std::string("The request is malformed: ") + d.error().what + "."),
           false;
  if (!d->msg) {
    head_incomplete_ = true;
    return false;
  }
  req_ = std::move(*d->msg);
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(d->used));
  auto rt = http1::parse_request_target(req_.method, req_.target);
  if (!rt)
    return fail(400, std::string("The request target is not usable by a proxy: ") + rt.error().what + "."),
           false;
  rt_ = std::move(*rt);
  const bool local = rt_.form == http1::TargetForm::Origin || rt_.form == http1::TargetForm::Asterisk;
  if (local && !addressed_here(req_)) return misdirected(), false;  // before 407: no password prompt either
  if (!http_authorised(*ctx_.config, req_)) {
    log::info("agent", peer_ + " HTTP: proxy authentication missing or wrong");
    return fail(407, "This proxy needs a username and password (Proxy-Authorization: Basic)."), false;
  }
  if (local) {
    local_page(req_, rt_);
    return phase_ == Phase::Head;
  }
  if (ctx_.draining) {
    log::info("agent", peer_ + " HTTP: the agent is stopping: no new connections");
    return fail(503, "The proxy is shutting down; it takes no new connections."), false;
  }
  upgrade_ = false;
  if (rt_.form == http1::TargetForm::Authority) {  // CONNECT after other requests: a tunnel from here on
    keep_alive_ = false;
    phase_ = Phase::Tunnel;
    release_stream(true);
    origin_ = rt_.target;
    opening_ = true;
    ctx_.links->open(rt_.target, &owner_);
    return false;
  }
  auto framing = http1::request_body(req_);
  if (!framing)
    return fail(400, std::string("The request body framing is invalid: ") + framing.error().what + "."),
           false;
  req_body_ = *framing;
  req_left_ = framing->length;
  req_chunks_ = http1::ChunkedScanner{};
  upgrade_ = http1::wants_upgrade(req_);
  auto fwd = http1::rewrite_request(req_, rt_, upgrade_);
  keep_alive_ = fwd.keep_alive && !upgrade_;
  head_parsed_ = false;
  resp_head_.clear();
  if (!(stream_ && origin_ == rt_.target && origin_reusable_)) {
    release_stream(true);
    origin_ = rt_.target;
    opening_ = true;
    ctx_.links->open(rt_.target, &owner_);
    if (phase_ == Phase::Closing) return false;  // refused at once (a limit): the error reply is out
  }
  phase_ = Phase::Body;
  send_to_origin(fwd.bytes);
  return true;
}

// DNS rebinding (local_host.hpp): a Host that names another site, or none, gets no local page.
bool HttpForwarder::addressed_here(const http1::RequestHead& head) const {
  const http1::Header* host = http1::find_header(head.headers, "Host");
  return host && host_names_listener(host->value, reinterpret_cast<const sockaddr*>(&local_));
}

void HttpForwarder::misdirected() {
  const http1::Header* host = http1::find_header(req_.headers, "Host");
  log::info("agent", peer_ + " HTTP: " + req_.target.substr(0, 64) + " with Host " +
                         (host ? "\"" + host->value.substr(0, 64) + "\"" : std::string("none")) +
                         ", which is not this port: 421");
  fail(421, "Misdirected request: this port's own pages answer only Host " +
                listener_host_hint(reinterpret_cast<const sockaddr*>(&local_)) + ".");
}

void HttpForwarder::local_page(const http1::RequestHead& head, const http1::RequestTarget& rt) {
  if (head.method == "GET" && rt.origin_form == "/status" && ctx_.status_json) {
    const std::string body = ctx_.status_json();
    // A draining agent keeps nothing open.
    const bool keep = http1::client_keep_alive(head) && !ctx_.draining;
    write_local_page("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nCache-Control: no-store\r\nConnection: " +
                     (keep ? "keep-alive" : "close") + "\r\n\r\n" + body);
    if (!keep) close_client();
    return;
  }
  fail(404,
       "This is ferry's proxy port. Use it as a proxy (curl -x http://HOST:PORT http://target/), or GET "
       "/status.");
}

// process() stops while the client leaves too many answers unread; the write of this page, like
// every to_client() write, starts it again once the client has taken it.
void HttpForwarder::write_local_page(std::string page) {
  client_.write_raw(Bytes(page.begin(), page.end()), [this] {
    if (phase_ == Phase::Head) process();
  });
}

void HttpForwarder::forward_request_body() {
  while (phase_ == Phase::Body) {
    if (req_body_.kind == http1::BodyKind::Length) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(req_left_, inbox_.size()));
      send_to_origin(ByteSpan(inbox_).first(n));
      inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(n));
      req_left_ -= n;
      if (req_left_ > 0) return;
    } else if (req_body_.kind == http1::BodyKind::Chunked) {
      auto p = req_chunks_.feed(inbox_);
      if (!p) return fail(400, std::string("The chunked request body is malformed: ") + p.error().what + ".");
      send_to_origin(ByteSpan(inbox_).first(p->used));
      inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(p->used));
      if (!p->done) return;
    }
    phase_ = Phase::Response;
  }
}

void HttpForwarder::send_to_origin(ByteSpan bytes) {
  if (bytes.empty()) return;
  link::Mux* mux = link_ ? link_->mux() : nullptr;
  if (!stream_ || opening_ || !mux) {
    to_origin_.insert(to_origin_.end(), bytes.begin(), bytes.end());
    if (to_origin_.size() > kMaxInbox / 2) client_.pause_handshake();  // resumed once the stream opens
    return;
  }
  if (!mux->send(*stream_, bytes)) {
    upstream_blocked_ = true;  // the stream's queue is full: resumed by on_stream_writable
    client_.pause_handshake();
  }
}

void HttpForwarder::on_stream_writable() {
  upstream_blocked_ = false;
  if (phase_ == Phase::Body) forward_request_body();
  maybe_resume_client();
}

void HttpForwarder::on_open_result(LinkClient& link, link::StreamId id, const frame::OpenResult& r) {
  opening_ = false;
  if (r.code != frame::OpenCode::Ok) {
    log::info("agent", peer_ + " HTTP " + origin_.to_string() + ": " + frame::open_code_name(r.code) +
                           (r.reason.empty() ? "" : " (" + r.reason + ")"));
    return fail(http1::status_for(r.code), explain(r, origin_));
  }
  stream_ = id;
  link_ = &link;
  generation_ = link.generation();
  origin_reusable_ = false;
  if (phase_ == Phase::Tunnel) {
    client_.write_raw(http1::connect_established());
    // Bytes that came with the CONNECT head precede anything read after it.
    to_origin_.insert(to_origin_.begin(), inbox_.begin(), inbox_.end());
    inbox_.clear();
  }
  Bytes pending;
  pending.swap(to_origin_);
  send_to_origin(pending);
  if (phase_ == Phase::Tunnel && client_eof_) {  // the client finished while the stream opened
    if (link::Mux* mux = link.mux()) mux->finish(id);
    client_.mark_read_done();
  }
  if (phase_ == Phase::Body) forward_request_body();
  maybe_resume_client();
}

void HttpForwarder::to_client(ByteSpan bytes, std::optional<std::size_t> credit) {
  const std::uint64_t generation = generation_;
  const link::StreamId id = stream_ ? *stream_ : 0;
  LinkClient* link = link_;
  const std::size_t n = credit ? *credit : bytes.size();
  // Credit goes back once the client has the bytes: a slow client slows only its own origin. The
  // generation check keeps credit for a stream of a link that since went down off a new link's
  // stream with the same id.
  client_.write_raw(Bytes(bytes.begin(), bytes.end()), [this, link, generation, id, n] {
    link::Mux* mux = link ? link->mux() : nullptr;
    if (mux && id != 0 && generation == link->generation())
      mux->consumed(id, n, link::Instant(static_cast<std::int64_t>(uv_now(ctx_.loop))));
    if (phase_ == Phase::Head) process();  // pipelined requests waited for the client to read
  });
}

void HttpForwarder::on_stream_data(ByteSpan bytes) {
  if (phase_ == Phase::Closing) return;
  if (phase_ == Phase::Tunnel) return to_client(bytes);
  if (phase_ == Phase::Head) {  // an idle kept-alive origin spoke unasked (a 408, say): drop it
    const std::uint64_t n = bytes.size();
    if (link::Mux* mux = link_ ? link_->mux() : nullptr; mux && stream_)
      mux->consumed(*stream_, n, link::Instant(static_cast<std::int64_t>(uv_now(ctx_.loop))));
    return release_stream(true);
  }
  on_response_bytes(bytes);
}

void HttpForwarder::on_response_bytes(ByteSpan bytes) {
  if (head_parsed_) return forward_response_body(bytes);
  if (resp_head_.size() + bytes.size() > kMaxResponseHead)
    return fail(502, "The origin sent a response head larger than 64 KiB.");
  resp_head_.insert(resp_head_.end(), bytes.begin(), bytes.end());
  if (!on_response_head()) return;
}

// Parses the buffered response head; forwards it and whatever body followed. False: need more.
bool HttpForwarder::on_response_head() {
  auto d = http1::decode_response_head(resp_head_);
  if (!d)
    return fail(502, std::string("The origin sent a malformed response: ") + d.error().what + "."), false;
  if (!d->msg) return false;
  const auto& head = *d->msg;
  if (head.line.status == 101 && !upgrade_) {
    // Turning into a tunnel now would send the client's next pipelined request (perhaps for another
    // origin, with its Proxy-Authorization) to this origin, in a protocol nobody asked for.
    log::info("agent", peer_ + " HTTP " + origin_.to_string() + ": 101 to a request without Upgrade: 502");
    return fail(502, "The origin switched protocols without being asked."), false;
  }
  const bool interim = head.line.status >= 100 && head.line.status < 200 && head.line.status != 101;
  auto framing = http1::response_body(req_.method, head);
  if (!interim && !framing)  // checked before the head goes out, so the client gets a clean 502
    return fail(502, std::string("The origin's response framing is invalid: ") + framing.error().what + "."),
           false;
  Bytes rest(resp_head_.begin() + static_cast<std::ptrdiff_t>(d->used), resp_head_.end());
  // The client gets the head rewritten for its own connection; the credit is for what the origin sent.
  to_client(http1::rewrite_response(head, keep_alive_ || head.line.status == 101), d->used);
  resp_head_.clear();
  if (interim) {
    if (!rest.empty()) on_response_bytes(rest);  // an interim response; the final one follows
    return true;
  }
  resp_body_ = *framing;
  resp_left_ = framing->length;
  resp_chunks_ = http1::ChunkedScanner{};
  head_parsed_ = true;
  origin_reusable_ = head.line.version == http1::Version::Http11 &&
                     !http1::has_token(head.headers, "Connection", "close") &&
                     (framing->kind == http1::BodyKind::Length || framing->kind == http1::BodyKind::Chunked ||
                      framing->kind == http1::BodyKind::None);
  if (framing->kind ==
      http1::BodyKind::Tunnel) {  // 101 Switching Protocols: bytes flow both ways as they are
    phase_ = Phase::Tunnel;
    keep_alive_ = false;
    if (!rest.empty()) to_client(rest);
    Bytes early;
    early.swap(inbox_);
    send_to_origin(early);
    return true;
  }
  forward_response_body(rest);
  return true;
}

void HttpForwarder::forward_response_body(ByteSpan bytes) {
  switch (resp_body_.kind) {
    case http1::BodyKind::None:
      break;
    case http1::BodyKind::Length: {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(resp_left_, bytes.size()));
      to_client(bytes.first(n));
      resp_left_ -= n;
      bytes = bytes.subspan(n);
      if (resp_left_ > 0) return;
      break;
    }
    case http1::BodyKind::Chunked: {
      auto p = resp_chunks_.feed(bytes);
      if (!p) return close_client();  // the head is out: all we can do is cut the connection
      to_client(bytes.first(p->used));
      bytes = bytes.subspan(p->used);
      if (!p->done) return;
      break;
    }
    case http1::BodyKind::CloseDelimited:
    case http1::BodyKind::Tunnel:
      return to_client(bytes);
  }
  if (!bytes.empty()) origin_reusable_ = false;  // bytes after the response: this origin is confused
  response_done();
}

void HttpForwarder::response_done() {
  head_parsed_ = false;
  if (!origin_reusable_) release_stream(true);
  if (phase_ == Phase::Body || !keep_alive_) return close_client();
  phase_ = Phase::Head;
  process();  // pipelined requests first, even after the client's FIN
  if (client_eof_ && phase_ == Phase::Head && inbox_.empty()) close_client();
}

void HttpForwarder::on_stream_fin() {
  if (phase_ == Phase::Tunnel) return client_.on_link_fin();
  if (phase_ == Phase::Closing) return;
  if (phase_ == Phase::Head) return release_stream(true);  // an idle kept-alive origin closed: fine
  origin_reusable_ = false;
  if (!head_parsed_) return fail(502, "The origin closed the connection without a complete response.");
  if (resp_body_.kind == http1::BodyKind::CloseDelimited) {
    release_stream(true);
    return close_client();
  }
  close_client();  // a body cut short: the client must see the connection end
}

void HttpForwarder::on_stream_reset(frame::ResetCode) {
  stream_.reset();
  link_ = nullptr;
  origin_reusable_ = false;
  upstream_blocked_ = false;                                      // its queue went with it
  if (phase_ == Phase::Closing || phase_ == Phase::Head) return;  // no exchange was using it
  if ((phase_ == Phase::Response || phase_ == Phase::Body) && !head_parsed_)
    return fail(502, "The connection to the origin broke before it answered.");
  close_client();
}

void HttpForwarder::on_client_eof() {
  client_eof_ = true;
  if (phase_ == Phase::Tunnel) {
    if (link::Mux* mux = link_ ? link_->mux() : nullptr; stream_ && !opening_ && mux) mux->finish(*stream_);
    return client_.mark_read_done();
  }
  if (phase_ == Phase::Head && inbox_.empty()) return close_client();  // a keep-alive connection ends
  if (phase_ == Phase::Response) return;  // the answer may still come; then the connection closes
  close_client();
}

void HttpForwarder::fail(int status, const std::string& text) {
  if (phase_ == Phase::Closing) return;
  if (head_parsed_) return close_client();  // a response is already under way: cut it
  client_.write_raw(http1::error_response(status, text));
  close_client();
}

void HttpForwarder::close_client() {
  if (phase_ == Phase::Closing) return;
  phase_ = Phase::Closing;
  release_stream(true);
  client_.pause_handshake();
  client_.close_after_writes();
}

void HttpForwarder::release_stream(bool reset) {
  if (!stream_) {
    if (opening_) ctx_.links->forget(&owner_);
    opening_ = false;
    return;
  }
  if (reset) link_->release(*stream_);
  stream_.reset();
  link_ = nullptr;
  origin_reusable_ = false;
  upstream_blocked_ = false;  // its full queue went with it: no on_stream_writable() will come
}

}  // namespace ferry::agent
