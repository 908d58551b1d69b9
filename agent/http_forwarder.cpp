#include "agent/http_forwarder.hpp"

#include "agent/local_host.hpp"
#include "agent/proxy_words.hpp"
#include "common/log.hpp"

namespace ferry::agent {
namespace {

// What the exchange asks the agent: credentials, whether a Host names this port, the status page.
// Each is read when a request asks (the config and the status callback belong to the context).
http1::ExchangeRules rules_for(AgentContext& ctx, const sockaddr_storage& local) {
  http1::ExchangeRules rules;
  rules.authorised = [&ctx](const http1::RequestHead& head) { return http_authorised(*ctx.config, head); };
  rules.host_is_local = [local](std::string_view host) {
    return host_names_listener(host, reinterpret_cast<const sockaddr*>(&local));
  };
  rules.local_host_hint = listener_host_hint(reinterpret_cast<const sockaddr*>(&local));
  if (ctx.status_json) rules.status_json = [&ctx] { return ctx.status_json(); };
  rules.draining = ctx.draining;
  return rules;
}

}  // namespace

HttpForwarder::HttpForwarder(AgentContext& ctx, uv::SocketPipe& client, StreamOwner& owner, std::string peer,
                             const sockaddr_storage& local)
    : ctx_(ctx),
      client_(client),
      owner_(owner),
      peer_(std::move(peer)),
      local_(local),
      exchange_(rules_for(ctx, local)) {}

HttpForwarder::~HttpForwarder() = default;

void HttpForwarder::on_client_bytes(ByteSpan bytes) {
  exchange_.on_client_bytes(bytes);
  run();
}

void HttpForwarder::on_client_eof() {
  exchange_.on_client_eof();
  run();
}

void HttpForwarder::on_open_result(LinkClient& link, link::StreamId id, const frame::OpenResult& r) {
  if (r.code != frame::OpenCode::Ok) {
    exchange_.on_origin_refused(r.code, r.reason, explain(r, exchange_.origin()));
  } else if (stream_) {  // the exchange rides another stream: this answer is nobody's
    link.release(id);
  } else {
    stream_ = id;
    link_ = &link;
    generation_ = link.generation();
    exchange_.on_origin_open();  // releases it again if the exchange no longer waits for it
  }
  run();
}

void HttpForwarder::on_stream_data(ByteSpan bytes) {
  exchange_.on_origin_bytes(bytes);
  run();
}

void HttpForwarder::on_stream_fin() {
  exchange_.on_origin_fin();
  run();
}

void HttpForwarder::on_stream_reset(frame::ResetCode) {
  stream_.reset();  // gone, and its queue with it: nothing to release
  link_ = nullptr;
  exchange_.on_origin_reset();
  run();
}

void HttpForwarder::on_stream_writable() {
  exchange_.on_origin_writable();
  run();
}

void HttpForwarder::shutdown() {
  exchange_.abort();  // the session closes the client itself
  run();
}

void HttpForwarder::drain() {
  exchange_.drain();
  run();
}

void HttpForwarder::run() {
  while (auto a = exchange_.next_action()) perform(*a);
  // Once closed, the pipe reads (and drops) until the client's end on its own, or is gone.
  if (exchange_.closed()) return;
  if (exchange_.wants_client_bytes())
    client_.resume_handshake();
  else
    client_.pause_handshake();
}

void HttpForwarder::perform(http1::Action& a) {
  using Kind = http1::ActionKind;
  link::Mux* m = mux();
  switch (a.kind) {
    case Kind::Open:
      return ctx_.links->open(a.target, &owner_);  // the answer comes to on_open_result
    case Kind::ToOrigin:
      // Without a mux the link is going down, and the stream's reset is on its way.
      if (m && stream_ && !m->send(*stream_, a.bytes)) exchange_.on_origin_full();
      return;
    case Kind::FinishOrigin:
      if (m && stream_) m->finish(*stream_);
      return;
    case Kind::Release:
      return release_stream();
    case Kind::ToClient:
      return write_to_client(a);
    case Kind::Credit:
      if (m && stream_) m->consumed(*stream_, a.credit, now());
      return;
    case Kind::Reply:
      return client_.write_raw(std::move(a.bytes));
    case Kind::ClientEnded:
      return client_.mark_read_done();
    case Kind::FinishClient:
      return client_.on_link_fin();
    case Kind::CloseClient:
      if (log::enabled(log::Level::Debug)) log::debug("agent", peer_ + " HTTP: closing (" + a.text + ")");
      client_.pause_handshake();
      return client_.close_after_writes();
    case Kind::AbortClient:
      if (log::enabled(log::Level::Debug))
        log::debug("agent", peer_ + " HTTP: closing idle (" + a.text + ")");
      return client_.abort(frame::ResetCode::Cancel);
    case Kind::Log:
      return log::info("agent", peer_ + " " + a.text);
  }
}

// Credit goes back once the client has the bytes: a slow client slows only its own origin. The
// generation check keeps credit for a stream of a link that since went down off a new link's stream
// with the same id.
void HttpForwarder::write_to_client(http1::Action& a) {
  LinkClient* link = link_;
  const std::uint64_t generation = generation_;
  const link::StreamId id = stream_.value_or(0);
  const std::size_t credit = a.credit;
  const std::size_t size = a.bytes.size();
  client_.write_raw(std::move(a.bytes), [this, link, generation, id, credit, size] {
    link::Mux* m = link ? link->mux() : nullptr;
    if (credit > 0 && m && id != 0 && generation == link->generation()) m->consumed(id, credit, now());
    exchange_.on_client_written(size);
    run();
  });
}

void HttpForwarder::release_stream() {
  if (!stream_) {
    ctx_.links->forget(&owner_);  // the open under way is cancelled
  } else if (link_) {
    link_->release(*stream_);
  }
  stream_.reset();
  link_ = nullptr;
}

link::Instant HttpForwarder::now() const noexcept {
  return link::Instant(static_cast<std::int64_t>(uv_now(ctx_.loop)));
}

}  // namespace ferry::agent
